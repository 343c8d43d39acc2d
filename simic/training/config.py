"""What a training run is: :class:`TrainConfig` and its :class:`PPOConfig`, validated.

Each field's help text lives in its metadata (:func:`simic.common.options.option`), which is also
where ``simic train --help`` reads it: an option is written once, as a field. A run folder's
``config.json`` is :meth:`TrainConfig.to_dict`; :meth:`TrainConfig.from_mapping` reads one back
(and any ``--config`` file), rejecting unknown keys with a did-you-mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import envs
from kasmina.errors import UnknownChoiceError
from kasmina.validation import (
    is_int,
    reject_unknown,
    require_device,
    require_int,
    require_number,
)
from simic.common.envutil import resolve_env_id
from simic.common.errors import SimicError
from simic.common.options import doc
from simic.policies import list_policies

SECTION_EXAMPLES = {"ppo": "n_steps: 256", "env_kwargs": "budget: 20"}
"""A config file's sections (mappings), with an example entry for error messages."""


class Engine(StrEnum):
    """The training libraries: sb3-contrib's MaskablePPO (:mod:`simic.training.sb3`) and Ray
    RLlib's PPO with an action-masking RLModule (:mod:`simic.training.rllib`, needs the
    ``[ray]`` extra). A ``str``, so config files and ``--engine`` keep the plain names."""

    SB3 = "sb3"
    RLLIB = "rllib"


ENGINES = tuple(engine.value for engine in Engine)
"""The engines' names, in the order ``--help`` lists them."""


class Vectorization(StrEnum):
    """How an sb3 run's ``n_envs`` environments run: one ``SubprocVecEnv`` process each, or
    batched (:class:`envs.BatchedGrowthEnv`, optionally split over ``batched_workers``)."""

    SUBPROCESS = "subprocess"
    BATCHED = "batched"


VECTORIZATIONS = tuple(mode.value for mode in Vectorization)
"""The values of ``TrainConfig.vectorization``."""

ADDED_SETTINGS: dict[str, Any] = {"vectorization": "subprocess", "batched_workers": 1}
"""Settings newer than some checkpoints, with the value those checkpoints' runs had: a resumed
run that lacks one in its recorded identity matches when it holds that value."""

RESUMABLE = ("timesteps", "device", "progress_bar")
"""The only settings a resumed run may change (the rest is the run, as recorded)."""


@dataclass(frozen=True)
class PPOConfig:
    """MaskablePPO hyperparameters (stable-baselines3 names and meanings).

    ``gamma`` defaults to 1: an episode is a fixed, observed budget of steps and the dense
    reward telescopes to the episode's accuracy gain only without discounting.
    """

    learning_rate: float = field(default=3e-4, metadata=doc("Adam learning rate"))
    n_steps: int = field(default=128, metadata=doc("steps per environment in each rollout"))
    batch_size: int = field(default=64, metadata=doc("minibatch size"))
    n_epochs: int = field(default=10, metadata=doc("passes over each rollout"))
    gamma: float = field(default=1.0, metadata=doc("discount factor"))
    gae_lambda: float = field(default=0.95, metadata=doc("GAE lambda of the advantages"))
    clip_range: float = field(default=0.2, metadata=doc("clipping range of the policy ratio"))
    ent_coef: float = field(default=0.01, metadata=doc("weight of the entropy bonus"))
    vf_coef: float = field(default=0.5, metadata=doc("weight of the value loss"))
    max_grad_norm: float = field(default=0.5, metadata=doc("gradient norm clipped to"))
    net_arch: tuple[int, ...] = field(
        default=(64, 64), metadata=doc("hidden layer widths of the policy and value networks")
    )
    context_bumps: int = field(
        default=0,
        metadata=doc(
            "task families: Gaussian bumps per context feature (price, host size) added to the "
            "policy's input, so instances get weights of their own (0: none, else 2 or more; "
            "simic.training.context_features)",
            metavar="K",
        ),
    )

    def __post_init__(self) -> None:
        if not isinstance(self.net_arch, (list, tuple)) or not all(
            is_int(u) and u >= 1 for u in self.net_arch
        ):
            raise SimicError(
                f"ppo.net_arch must be a list of positive layer widths (e.g. [64, 64]), "
                f"got {self.net_arch!r}"
            )
        object.__setattr__(self, "net_arch", tuple(self.net_arch))
        for name in ("n_steps", "n_epochs"):
            require_int(f"ppo.{name}", getattr(self, name), 1, SimicError)
        require_int("ppo.context_bumps", self.context_bumps, 0, SimicError)
        if self.context_bumps == 1:
            raise SimicError(
                "ppo.context_bumps must be 0 (none) or 2 or more (one bump is no encoding), got 1"
            )
        # A minibatch of one sample normalizes its advantage by a std of NaN (SB3 asserts > 1).
        require_int("ppo.batch_size", self.batch_size, 2, SimicError)
        bounds = {
            "learning_rate": (0.0, None, True),
            "clip_range": (0.0, None, True),
            "max_grad_norm": (0.0, None, True),
            "gamma": (0.0, 1.0, False),
            "gae_lambda": (0.0, 1.0, False),
            "ent_coef": (0.0, None, False),
            "vf_coef": (0.0, None, False),
        }
        for name, (low, high, low_open) in bounds.items():
            require_number(
                f"ppo.{name}",
                getattr(self, name),
                low=low,
                high=high,
                low_open=low_open,
                error=SimicError,
            )

    def check_rollout(self, n_envs: int) -> None:
        """Reject rollouts SB3 cannot train on: each minibatch needs two or more samples.

        The advantage of a one-sample minibatch is normalized by a std of NaN, and the logits
        turn NaN mid-training, so this is checked before the run starts.
        """
        rollout = self.n_steps * n_envs
        if rollout < 2 or rollout % self.batch_size == 1:
            raise SimicError(
                f"ppo.n_steps {self.n_steps} x n_envs {n_envs} = {rollout} samples per rollout, "
                f"cut into minibatches of ppo.batch_size {self.batch_size}, leaves a minibatch "
                "of one sample, which PPO cannot normalize; make n_steps x n_envs a multiple "
                "of batch_size (e.g. --n-steps "
                f"{max(self.batch_size, 2)} with --batch-size {self.batch_size})"
            )

    def model_kwargs(self) -> dict[str, Any]:
        kwargs = dataclasses.asdict(self)
        arch = list(kwargs.pop("net_arch"))
        kwargs.pop("context_bumps")  # needs the env's layout: simic.training.sb3 adds the extractor
        return {**kwargs, "policy_kwargs": {"net_arch": {"pi": arch, "vf": arch}}}


@dataclass(frozen=True)
class TrainConfig:
    """A training run, completely (what ``RUN/config.json`` records)."""

    env: str = field(
        default="simic/Grow-MNIST1D-v0", metadata=doc("environment id, see 'simic envs'")
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata=doc("environment keyword arguments, e.g. budget=20 param_rent=0.1"),
    )
    timesteps: int = field(
        default=20_000, metadata=doc("environment steps to train for, across all envs")
    )
    n_envs: int = field(
        default=1,
        metadata=doc(
            "parallel environments: subprocesses above 1, or with --vectorization batched the "
            "episodes stepped together in this process"
        ),
    )
    vectorization: str = field(
        default="subprocess",
        metadata=doc(
            "how the n_envs environments run: subprocess (one process each, SB3's "
            "SubprocVecEnv) or batched (one process, their hosts trained as one grouped "
            "network: envs.BatchedGrowthEnv; CNN tasks and families only)"
        ),
    )
    batched_workers: int = field(
        default=1,
        metadata=doc(
            "with --vectorization batched: processes that each step a slice of the n_envs "
            "envs (e.g. one per core)",
            metavar="K",
        ),
    )
    seed: int = field(default=0, metadata=doc("seed of PPO and of the training episodes"))
    out: str = field(default="runs/ppo", metadata=doc("run folder"))
    device: str = field(
        default="cpu", metadata=doc("torch device of the PPO networks: cpu, cuda, mps or auto")
    )
    engine: str = field(
        default="sb3",
        metadata=doc(
            "training library: sb3 (sb3-contrib's MaskablePPO) or rllib (Ray RLlib's PPO with "
            "action masking; needs the [ray] extra)"
        ),
    )
    num_env_runners: int = field(
        default=0,
        metadata=doc(
            "rllib: Ray actors that sample in parallel, spread across the cluster, each with "
            "n_envs environments (0: sample in this process)",
            metavar="N",
        ),
    )
    ppo: PPOConfig = field(default_factory=PPOConfig, metadata=doc("PPO hyperparameters"))
    checkpoint_every: int = field(default=2048, metadata=doc("timesteps between checkpoints"))
    eval_every: int = field(
        default=4096, metadata=doc("timesteps between evaluations on held-out seeds, 0 for none")
    )
    eval_episodes: int = field(default=5, metadata=doc("episodes per evaluation"))
    # Kept away from the seeds of the final `simic evaluate`, so that model selection does not
    # see the test episodes.
    eval_seed: int = field(default=900_000, metadata=doc("first held-out evaluation seed"))
    progress_bar: bool = field(
        default=True, metadata=doc("show a progress bar", flag="--no-progress")
    )
    warm_start: str = field(
        default="",
        metadata=doc(
            "a registered policy to clone before PPO starts (behaviour cloning of its actions "
            "and returns; empty: start from scratch)",
            metavar="TEACHER",
        ),
    )
    warm_start_episodes: int = field(
        default=64, metadata=doc("teacher episodes played (on training seeds) for warm_start")
    )
    warm_start_epochs: int = field(
        default=30, metadata=doc("passes over the teacher's samples when cloning them")
    )
    warm_start_anchor: int = field(
        default=0,
        metadata=doc(
            "behaviour-cloning minibatches on the teacher's samples after every PPO update "
            "(0: none): the clone's choices stay where PPO's own episodes do not outweigh them",
            metavar="STEPS",
        ),
    )

    def __post_init__(self) -> None:
        resolve_env_id(self.env)
        if not isinstance(self.ppo, PPOConfig):
            raise SimicError(f"ppo must be a mapping of PPO settings, got {self.ppo!r}")
        if not isinstance(self.env_kwargs, Mapping):
            raise SimicError(f"env_kwargs must be a mapping, got {self.env_kwargs!r}")
        for name, low in (
            ("timesteps", 1),
            ("n_envs", 1),
            ("batched_workers", 1),
            ("num_env_runners", 0),
            ("seed", 0),
            ("checkpoint_every", 1),
            ("eval_every", 0),
            ("eval_episodes", 1),
            ("eval_seed", 0),
            ("warm_start_episodes", 1),
            ("warm_start_epochs", 1),
            ("warm_start_anchor", 0),
        ):
            require_int(name, getattr(self, name), low, SimicError)
        if not isinstance(self.out, str) or not self.out:
            raise SimicError(f"out must be a folder path, got {self.out!r}")
        require_device("device", self.device, allow_auto=True, error=SimicError)
        self.ppo.check_rollout(self.n_envs)
        if self.warm_start and self.warm_start not in list_policies():
            raise UnknownChoiceError("warm_start teacher", self.warm_start, list_policies())
        if self.warm_start_anchor and not self.warm_start:
            raise SimicError(
                f"warm_start_anchor {self.warm_start_anchor} anchors PPO to a teacher's "
                "demonstrations: name the teacher with warm_start (e.g. --warm-start heuristic)"
            )
        self._check_engine()

    def _check_engine(self) -> None:
        """The engine is known, and no setting is given to the engine that has none."""
        if self.engine not in ENGINES:
            raise UnknownChoiceError("engine", self.engine, ENGINES)
        object.__setattr__(self, "engine", Engine(self.engine))  # dispatch on the enum
        if self.vectorization not in VECTORIZATIONS:
            raise UnknownChoiceError("vectorization", self.vectorization, VECTORIZATIONS)
        object.__setattr__(self, "vectorization", Vectorization(self.vectorization))
        if self.vectorization is Vectorization.BATCHED:
            _check_batchable(self.env, self.engine)
        if self.batched_workers > 1 and self.vectorization is not Vectorization.BATCHED:
            raise SimicError("batched_workers splits a batched env; add --vectorization batched")
        if self.batched_workers > self.n_envs:
            raise SimicError(
                f"batched_workers {self.batched_workers} > n_envs {self.n_envs}: every worker "
                "needs at least one env"
            )
        if self.engine is Engine.SB3 and self.num_env_runners:
            raise SimicError(
                "num_env_runners is an RLlib setting; add --engine rllib or drop it (sb3 runs "
                "its n_envs environments in subprocesses)"
            )
        if self.engine is Engine.RLLIB and self.ppo.context_bumps:
            raise SimicError(
                "ppo.context_bumps is a stable-baselines3 features extractor and has no RLlib "
                "counterpart; drop it or train with --engine sb3"
            )
        if self.engine is Engine.RLLIB and self.warm_start:
            raise SimicError(
                "warm_start clones the teacher into a MaskablePPO and has no RLlib counterpart; "
                "drop it or train with --engine sb3"
            )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ppo"]["net_arch"] = list(self.ppo.net_arch)
        return data

    def identity(self) -> dict[str, Any]:
        """What makes the run the run: every setting but where it lives and :data:`RESUMABLE`.

        Checkpoints carry it, so a resumed run refuses a ``config.json`` edited to another run.
        """
        data = self.to_dict()
        for name in ("out", *RESUMABLE):
            data.pop(name)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a (config-file) mapping; unknown keys raise with suggestions."""
        ppo_names = [f.name for f in dataclasses.fields(PPOConfig)]
        # A PPO name at the top level is a flat command-line option written into a file: the
        # suggestion points at its place under "ppo:".
        _reject_unknown(
            "train config",
            data,
            [f.name for f in dataclasses.fields(cls)],
            suggest=[f"ppo.{n}" for n in ppo_names],
        )
        values = dict(data)
        if "ppo" in values and not isinstance(values["ppo"], PPOConfig):
            ppo = section_mapping("ppo", values["ppo"])
            _reject_unknown("ppo config", ppo, ppo_names)
            values["ppo"] = PPOConfig(**ppo)
        return cls(**values)


def _check_batchable(env: str, engine: Engine) -> None:
    if engine is not Engine.SB3:
        raise SimicError("vectorization batched is an sb3 setting; drop it or use --engine sb3")
    if resolve_env_id(env) not in envs.BATCHABLE_IDS:
        raise SimicError(
            f"vectorization batched cannot batch {env}; batchable ids: "
            f"{', '.join(envs.BATCHABLE_IDS)} (use --vectorization subprocess)"
        )


def section_mapping(name: str, value: Any) -> Mapping[str, Any]:
    """A config file's section (``ppo:``, ``env_kwargs:``) as a mapping; ``None`` is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        example = SECTION_EXAMPLES[name]
        raise SimicError(f"{name} must be a mapping (e.g. {name}: {{{example}}}), got {value!r}")
    return value


def layered(file: Mapping[str, Any], command_line: Mapping[str, Any]) -> dict[str, Any]:
    """A config file's mapping with the command line's options over it, section by section."""
    data = dict(file)
    for key, value in command_line.items():
        if key in SECTION_EXAMPLES:  # merged: --gamma keeps the file's other ppo settings
            value = {**section_mapping(key, data.get(key)), **value}
        data[key] = value
    return data


def _reject_unknown(
    owner: str, data: Mapping[str, Any], known: list[str], suggest: list[str] | None = None
) -> None:
    """:func:`kasmina.validation.reject_unknown`, plus where a misplaced PPO key belongs."""
    hints = suggest or []
    nested = sorted(str(k) for k in data if str(k) not in known and f"ppo.{k}" in hints)
    if nested:
        key = nested[0]
        raise SimicError(
            f"{owner} key {key!r} is a PPO setting; did you mean 'ppo.{key}'? Put it under "
            f"'ppo:' (ppo: {{{key}: ...}})"
        )
    reject_unknown(owner, data, known, hints=hints)
