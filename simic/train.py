"""Training the growth controller: MaskablePPO on a growth environment, with a run folder.

A run folder holds everything a run needs to be inspected, resumed and evaluated::

    RUN/config.json                the resolved configuration (written before training starts)
    RUN/model.zip                  the final model
    RUN/best_model.zip             the best model on the held-out evaluation seeds so far
    RUN/checkpoints/latest.zip     the latest checkpoint (periodic, on Ctrl-C, and at the end)
    RUN/evaluations.json           every periodic evaluation (timesteps, mean return, accuracy)
    RUN/tb/                        TensorBoard logs

Every file is written atomically (temporary file + rename), so an interrupted run leaves a
loadable checkpoint and ``simic train --resume RUN --timesteps N`` continues it from the
checkpoint's timestep count.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from envs.atomic import atomic_write_text, default_file_mode
from kasmina.errors import UnexpectedKeywordError
from kasmina.validation import is_int, require_int, require_number
from simic import provenance
from simic.envutil import (
    SimicError,
    check_env_kwargs,
    make_env,
    require_device,
    resolve_env_id,
)
from simic.runfolder import claim
from simic.seeding import SeedCycle, TrainingSeeds
from simic.signals import Terminated, exit_status, sigterm_interrupts

Printer = Callable[[str], None]
CONFIG_FILE, MODEL_FILE, BEST_FILE = "config.json", "model.zip", "best_model.zip"
CHECKPOINT_FILE, EVALUATIONS_FILE = "checkpoints/latest.zip", "evaluations.json"
RUN_FILES = (CONFIG_FILE, MODEL_FILE, BEST_FILE, CHECKPOINT_FILE, EVALUATIONS_FILE)


@dataclass(frozen=True)
class PPOConfig:
    """MaskablePPO hyperparameters (stable-baselines3 names and meanings).

    ``gamma`` defaults to 1: an episode is a fixed, observed budget of steps and the dense
    reward telescopes to the episode's accuracy gain only without discounting.
    """

    learning_rate: float = 3e-4
    n_steps: int = 128
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (64, 64)

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
        return {**kwargs, "policy_kwargs": {"net_arch": {"pi": arch, "vf": arch}}}


@dataclass(frozen=True)
class TrainConfig:
    """A training run, completely (what ``RUN/config.json`` records).

    Attributes:
        env: Registered environment id.
        env_kwargs: Keyword arguments of the environment.
        timesteps: Total environment steps to train for (across all envs).
        n_envs: Parallel environments (subprocesses above 1).
        seed: Seeds PPO and the training episodes (drawn from ``simic.seeding.TRAINING_SEEDS``).
        out: The run folder.
        device: Torch device of the PPO networks (``"cpu"``, ``"cuda"``, ``"auto"``).
        ppo: PPO hyperparameters.
        checkpoint_every: Timesteps between checkpoints.
        eval_every: Timesteps between evaluations on held-out seeds (0: none).
        eval_episodes: Episodes per evaluation (seeds ``eval_seed .. eval_seed + n - 1``).
        eval_seed: First held-out evaluation seed; keep it away from the seeds of your final
            ``simic evaluate`` so model selection does not see the test episodes.
        progress_bar: Show a progress bar.
    """

    env: str = "simic/Grow-MNIST1D-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    timesteps: int = 20_000
    n_envs: int = 1
    seed: int = 0
    out: str = "runs/ppo"
    device: str = "cpu"
    ppo: PPOConfig = field(default_factory=PPOConfig)
    checkpoint_every: int = 2048
    eval_every: int = 4096
    eval_episodes: int = 5
    eval_seed: int = 900_000
    progress_bar: bool = True

    def __post_init__(self) -> None:
        resolve_env_id(self.env)
        if not isinstance(self.ppo, PPOConfig):
            raise SimicError(f"ppo must be a mapping of PPO settings, got {self.ppo!r}")
        if not isinstance(self.env_kwargs, Mapping):
            raise SimicError(f"env_kwargs must be a mapping, got {self.env_kwargs!r}")
        for name, low in (
            ("timesteps", 1),
            ("n_envs", 1),
            ("seed", 0),
            ("checkpoint_every", 1),
            ("eval_every", 0),
            ("eval_episodes", 1),
            ("eval_seed", 0),
        ):
            require_int(name, getattr(self, name), low, SimicError)
        if not isinstance(self.out, str) or not self.out:
            raise SimicError(f"out must be a folder path, got {self.out!r}")
        require_device("device", self.device)
        self.ppo.check_rollout(self.n_envs)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ppo"]["net_arch"] = list(self.ppo.net_arch)
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
            ppo = section_mapping("ppo", values["ppo"], "n_steps: 256")
            _reject_unknown("ppo config", ppo, ppo_names)
            values["ppo"] = PPOConfig(**ppo)
        return cls(**values)


def section_mapping(name: str, value: Any, example: str) -> Mapping[str, Any]:
    """A config file's section (``ppo:``, ``env_kwargs:``) as a mapping; ``None`` is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SimicError(f"{name} must be a mapping (e.g. {name}: {{{example}}}), got {value!r}")
    return value


def _reject_unknown(
    owner: str, data: Mapping[str, Any], known: list[str], suggest: list[str] | None = None
) -> None:
    unknown = {str(k) for k in data} - set(known)
    if not unknown:
        return
    nested = {k: f"ppo.{k}" for k in unknown if f"ppo.{k}" in (suggest or [])}
    if nested:
        key, path = sorted(nested.items())[0]
        raise SimicError(
            f"{owner} key {key!r} is a PPO setting; did you mean {path!r}? Put it under "
            f"'ppo:' (ppo: {{{key}: ...}})"
        )
    raise UnexpectedKeywordError(owner, unknown, [*known, *(suggest or [])])


@dataclass(frozen=True)
class TrainResult:
    """What a call of :func:`train` did."""

    run: Path
    timesteps: int
    interrupted: bool
    exit_status: int = 0
    """0 when training finished, 130 after Ctrl-C (SIGINT), 143 after SIGTERM."""


# ----------------------------------------------------------------------------------- run folder
def atomic_save_model(model: MaskablePPO, path: Path) -> Path:
    """``model.save`` to a temporary zip next to ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".zip", dir=path.parent)
    os.fchmod(fd, default_file_mode())
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_run_config(run: Path) -> TrainConfig:
    """The resolved config of an existing run folder (a clear error if there is none)."""
    file = run / CONFIG_FILE
    if not file.is_file():
        raise SimicError(
            f"{run} holds no training run (no {CONFIG_FILE}); start one with "
            f"'simic train --out {run}'"
        )
    try:
        return TrainConfig.from_mapping(json.loads(file.read_text()))
    except json.JSONDecodeError as exc:
        raise SimicError(f"{file} is corrupt ({exc}); the run cannot be resumed") from None


def _load_checkpoint(run: Path, vec_env: VecEnv, device: str) -> MaskablePPO:
    path = run / CHECKPOINT_FILE
    try:
        return MaskablePPO.load(path, env=vec_env, device=device)
    except Exception as exc:  # zipfile, pickle, torch and space errors all mean "unusable"
        raise SimicError(
            f"checkpoint {path} cannot be loaded ({type(exc).__name__}: {exc}); "
            "the run folder was left as it is"
        ) from None


# ----------------------------------------------------------------------------------- envs
def _training_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    # Module level (not a lambda) so SubprocVecEnv can pickle it by reference.
    return TrainingSeeds(Monitor(make_env(env_id, kwargs)))


def _eval_env(env_id: str, kwargs: dict[str, Any], seeds: list[int]) -> gym.Env:
    return SeedCycle(Monitor(make_env(env_id, kwargs)), seeds)


def build_vec_env(config: TrainConfig) -> VecEnv:
    fns = [
        functools.partial(_training_env, config.env, dict(config.env_kwargs))
        for _ in range(config.n_envs)
    ]
    vec: VecEnv = SubprocVecEnv(fns) if config.n_envs > 1 else DummyVecEnv(fns)
    vec.seed(config.seed)
    return vec


def _close(vec: VecEnv | None) -> None:
    try:
        if vec is not None:
            vec.close()
    except (EOFError, BrokenPipeError, ConnectionResetError):  # workers gone after Ctrl-C
        pass


# ----------------------------------------------------------------------------------- callbacks
class AtomicCheckpoint(BaseCallback):
    """Saves ``RUN/checkpoints/latest.zip`` atomically every ``every`` timesteps."""

    def __init__(self, path: Path, every: int) -> None:
        super().__init__()
        self.path, self.every = path, every
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.every:
            atomic_save_model(self.model, self.path)  # type: ignore[arg-type]
            self._last = self.num_timesteps
        return True


class HeldOutEval(MaskableEvalCallback):
    """sb3-contrib's maskable evaluation on a fixed list of held-out seeds, every round.

    Keeps the best model (by mean return) in ``RUN/best_model.zip``, written atomically, and
    appends every round to ``RUN/evaluations.json``.
    """

    def __init__(
        self, eval_env: VecEnv, run: Path, eval_freq: int, n_eval_episodes: int, resumed: bool
    ) -> None:
        super().__init__(
            eval_env,
            n_eval_episodes=n_eval_episodes,
            eval_freq=eval_freq,
            deterministic=True,
            verbose=0,
            warn=False,
        )
        self.run = run
        # A fresh run never reads what an earlier run left in the folder.
        self.history: list[dict[str, float]] = _previous_evaluations(run) if resumed else []
        if self.history:  # resumed: "best" means best over the whole run, not since resuming
            self.best_mean_reward = max(h["mean_return"] for h in self.history)

    def _init_callback(self) -> None:
        with warnings.catch_warnings():  # Subproc (training) vs Dummy (evaluation) is intended
            warnings.filterwarnings("ignore", "Training and eval env are not of the same type")
            super()._init_callback()

    def _on_step(self) -> bool:
        due = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
        if due:
            self.eval_env.env_method("restart")  # the same held-out episodes every round
        best = self.best_mean_reward
        keep_going = super()._on_step()
        if due:
            self._record(improved=self.last_mean_reward > best)
        return keep_going

    def _record(self, improved: bool) -> None:
        self.history.append(
            {"timesteps": int(self.num_timesteps), "mean_return": float(self.last_mean_reward)}
        )
        atomic_write_text(self.run / EVALUATIONS_FILE, json.dumps(self.history, indent=1))
        if improved:
            atomic_save_model(self.model, self.run / BEST_FILE)  # type: ignore[arg-type]


def _previous_evaluations(run: Path) -> list[dict[str, float]]:
    file = run / EVALUATIONS_FILE
    try:
        return list(json.loads(file.read_text())) if file.is_file() else []
    except (OSError, json.JSONDecodeError):
        return []  # a corrupt history is not worth refusing to resume for


def _eval_callback(config: TrainConfig, run: Path, resumed: bool) -> HeldOutEval | None:
    if config.eval_every == 0:
        return None
    seeds = list(range(config.eval_seed, config.eval_seed + config.eval_episodes))
    vec = DummyVecEnv([functools.partial(_eval_env, config.env, dict(config.env_kwargs), seeds)])
    freq = max(1, config.eval_every // config.n_envs)
    return HeldOutEval(vec, run, freq, config.eval_episodes, resumed)


# ----------------------------------------------------------------------------------- train
def _new_model(config: TrainConfig, vec_env: VecEnv, run: Path) -> MaskablePPO:
    return MaskablePPO(
        "MlpPolicy",
        vec_env,
        seed=config.seed,
        device=config.device,
        tensorboard_log=str(run / "tb"),
        verbose=0,
        **config.ppo.model_kwargs(),
    )


def _check_run_folder(run: Path, resume: bool) -> bool:
    """Whether training continues a checkpoint; called while the folder is claimed."""
    if not resume:
        if (run / CONFIG_FILE).exists():
            raise SimicError(
                f"{run} already holds a training run; continue it with "
                f"'simic train --resume {run} --timesteps N' or choose another --out"
            )
        return False
    return (run / CHECKPOINT_FILE).is_file()


def train(config: TrainConfig, *, resume: bool = False, out: Printer = print) -> TrainResult:
    """Train (or, with ``resume``, continue training) MaskablePPO as ``config`` says.

    The run folder is ``config.out``; while training, this process owns it
    (:func:`simic.runfolder.claim`). Ctrl-C and SIGTERM save a checkpoint and return with
    ``interrupted`` set. Resuming a run that died before its first checkpoint starts it again
    from timestep 0 with its recorded config.
    """
    run = Path(config.out)
    # Bad kwargs fail before a file is written; the env's signature goes into every model file.
    signature = provenance.EnvSignature.of(check_env_kwargs(config.env, config.env_kwargs))
    with claim(run, files=RUN_FILES), sigterm_interrupts():
        from_checkpoint = _check_run_folder(run, resume)
        if resume and not from_checkpoint:
            out(f"{run} has no checkpoint yet (it stopped before the first one); starting at 0")
        return _train_in(config, run, from_checkpoint, signature, out)


def _train_in(
    config: TrainConfig,
    run: Path,
    from_checkpoint: bool,
    signature: provenance.EnvSignature,
    out: Printer,
) -> TrainResult:
    vec_env = eval_cb = None
    threads = torch.get_num_threads()
    if config.n_envs > 1:
        torch.set_num_threads(1)  # the env workers have the cores; a tiny MLP needs no more
    try:
        vec_env = build_vec_env(config)
        model = (
            _load_checkpoint(run, vec_env, config.device)
            if from_checkpoint
            else _new_model(config, vec_env, run)
        )
        provenance.record(model, signature)
        atomic_write_text(run / CONFIG_FILE, json.dumps(config.to_dict(), indent=1))
        remaining = config.timesteps - model.num_timesteps
        if remaining <= 0:
            out(
                f"{run}: already at {model.num_timesteps} timesteps (asked for "
                f"{config.timesteps}); nothing to do"
            )
            return TrainResult(run, model.num_timesteps, interrupted=False)
        eval_cb = _eval_callback(config, run, resumed=from_checkpoint)
        status = _learn(model, config, run, remaining, eval_cb, out)
    finally:
        torch.set_num_threads(threads)
        _close(vec_env)
        _close(eval_cb.eval_env if eval_cb is not None else None)
    return TrainResult(run, model.num_timesteps, interrupted=status != 0, exit_status=status)


def _learn(
    model: MaskablePPO,
    config: TrainConfig,
    run: Path,
    remaining: int,
    eval_cb: HeldOutEval | None,
    out: Printer,
) -> int:
    """Train; returns 0, or the exit status of the signal that stopped training."""
    callbacks: list[BaseCallback] = [
        AtomicCheckpoint(run / CHECKPOINT_FILE, config.checkpoint_every)
    ]
    if eval_cb is not None:
        callbacks.append(eval_cb)
    out(
        f"training MaskablePPO on {config.env}: {model.num_timesteps} -> {config.timesteps} "
        f"timesteps, {config.n_envs} env(s), run folder {run}"
    )
    try:
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            reset_num_timesteps=False,
            progress_bar=config.progress_bar,
            tb_log_name="ppo",
        )
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as Terminated
        atomic_save_model(model, run / CHECKPOINT_FILE)
        out(
            f"{'terminated' if isinstance(stop, Terminated) else 'interrupted'} at "
            f"{model.num_timesteps} timesteps; checkpoint saved. Continue with "
            f"'simic train --resume {run} --timesteps {config.timesteps}'"
        )
        return exit_status(stop)
    atomic_save_model(model, run / CHECKPOINT_FILE)
    atomic_save_model(model, run / MODEL_FILE)
    out(f"done: {model.num_timesteps} timesteps; model saved to {run / MODEL_FILE}")
    return 0
