"""What ``simic sweep CONFIG`` searches over: :class:`SweepConfig`, read from YAML or JSON.

A sweep config is a ``simic train`` config (any :class:`~simic.training.config.TrainConfig` key
but ``out``, ``seed`` and ``progress_bar``: every trial trains in its own folder under the
sweep's storage folder, seeds are a dimension of the search, and trials log to a file) plus
the search and the comparison::

    env: simic/Grow-MNIST1D-v0
    env_kwargs: {budget: 10}
    timesteps: 4000
    eval_every: 0
    ppo: {n_steps: 128, batch_size: 64}
    seeds: [0, 1, 2]                  # training seeds: a grid dimension (default [0])
    search:                           # dotted setting -> {KIND: VALUES}
      ppo.learning_rate: {grid: [1.0e-4, 3.0e-4]}     # every value
      ppo.ent_coef: {choice: [0.0, 0.01]}             # one value drawn per sample
      ppo.gae_lambda: {uniform: [0.9, 1.0]}           # also loguniform: [low, high]
      env_kwargs.param_rent: {grid: [0.05, 0.1]}
    samples: 2                        # draws of the random dimensions per grid point
    search_seed: 0                    # seeds those draws, so a sweep is reproducible
    evaluation:                       # held-out episodes of every trial and baseline
      episodes: 10                    # seeds seed .. seed + episodes - 1
      seed: 1000
      baselines: [heuristic, random, nogrow, growall]   # names or model .zip paths
    resources: {cpu: 1, gpu: 0}       # per trial (default one CPU)
    max_concurrent_trials: 0          # 0: as many as the resources allow

A searched setting is a top-level training key (``timesteps``, ``warm_start``, ...),
``ppo.<name>`` or ``env_kwargs.<name>``. The sweep runs ``samples`` x (product of the grid
sizes) trials; ``samples`` above 1 needs a random dimension (``choice``, ``uniform``,
``loguniform``): repeating a grid point alone would train the same run twice (repeat with more
``seeds`` instead). Everything is checked before any trial starts, every combination of the
discrete values (and both ends of each range) included, with one-line errors and did-you-mean
suggestions. (In YAML write ``1.0e-4``, not ``1e-4``, which YAML reads as a string.)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasmina.errors import UserError
from kasmina.validation import reject_unknown, require_int, require_number
from simic.common.envutil import check_env_kwargs
from simic.common.errors import SimicError
from simic.evaluation import EvaluateConfig
from simic.policies import POLICY_NAMES, make_policy
from simic.sweep.space import (
    EXCLUDED,
    GRID,
    RANDOM_KINDS,
    SECTIONS,
    SearchDimension,
    parse_dimension,
    train_keys,
)
from simic.training.config import PPOConfig, TrainConfig

SWEEP_KEYS = (
    "seeds",
    "search",
    "samples",
    "search_seed",
    "evaluation",
    "resources",
    "max_concurrent_trials",
)
__all__ = [
    "EvaluationSettings",
    "Resources",
    "SearchDimension",
    "SweepConfig",
    "config_changes",
    "lookup",
    "nest",
    "parse_dimension",
]

MAX_CHECKED = 1000
"""Combinations of the search checked up front; beyond this the rest are checked by the trial."""


# ----------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class EvaluationSettings:
    """The held-out evaluation of every trial's model and of the baselines."""

    episodes: int = 10
    seed: int = 1000
    baselines: tuple[str, ...] = POLICY_NAMES

    def __post_init__(self) -> None:
        if isinstance(self.baselines, str) or not isinstance(self.baselines, Sequence):
            raise SimicError(
                f"evaluation.baselines must be a list (e.g. [heuristic, nogrow]), "
                f"got {self.baselines!r}"
            )
        # Model paths become absolute: the baselines may be played by Ray workers elsewhere.
        specs = tuple(_absolute_if_path(str(b)) for b in self.baselines)
        object.__setattr__(self, "baselines", specs)
        if len(set(specs)) != len(specs):
            raise SimicError(f"evaluation.baselines lists a policy twice: {list(specs)}")
        require_int("evaluation.episodes", self.episodes, 1, SimicError)
        require_int("evaluation.seed", self.seed, 0, SimicError)
        # EvaluateConfig owns the rest of the rules (seeds stay below training's).
        EvaluateConfig(episodes=self.episodes, seed=self.seed, policies=("nogrow",))

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.episodes))


def _absolute_if_path(spec: str) -> str:
    looks_like_path = spec.endswith(".zip") or "/" in spec or "\\" in spec
    return str(Path(spec).expanduser().resolve()) if looks_like_path else spec


@dataclass(frozen=True)
class Resources:
    """What one trial reserves on the Ray cluster."""

    cpu: float = 1.0
    gpu: float = 0.0

    def __post_init__(self) -> None:
        require_number("resources.cpu", self.cpu, low=0.0, low_open=True, error=SimicError)
        require_number("resources.gpu", self.gpu, low=0.0, error=SimicError)

    def to_ray(self) -> dict[str, float]:
        return {"cpu": self.cpu, "gpu": self.gpu}


# ----------------------------------------------------------------------------------- sweep
@dataclass(frozen=True)
class SweepConfig:
    """A sweep, completely: the base training run, the search, the evaluation, resources."""

    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    search: tuple[SearchDimension, ...] = ()
    samples: int = 1
    search_seed: int = 0
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    resources: Resources = field(default_factory=Resources)
    max_concurrent_trials: int = 0

    def __post_init__(self) -> None:
        self._check_counts()
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "search", tuple(self.search))
        paths = [d.path for d in self.search]
        if len(set(paths)) != len(paths):
            raise SimicError(f"search lists a setting twice: {paths}")
        if self.samples > 1 and not any(d.kind in RANDOM_KINDS for d in self.search):
            raise SimicError(
                f"samples: {self.samples} repeats the grid with new random draws, but no "
                "search dimension is random (choice, uniform, loguniform): every repeat would "
                "train the same runs; add seeds instead (seeds: [0, 1, 2])"
            )
        self._check_combinations()

    def _check_counts(self) -> None:
        if isinstance(self.seeds, str) or not isinstance(self.seeds, Sequence) or not self.seeds:
            raise SimicError(f"seeds must be a non-empty list of ints, got {self.seeds!r}")
        for seed in self.seeds:
            require_int("each of seeds", seed, 0, SimicError)
        if len(set(self.seeds)) != len(self.seeds):
            raise SimicError(f"seeds lists a seed twice: {list(self.seeds)}")
        require_int("samples", self.samples, 1, SimicError)
        require_int("search_seed", self.search_seed, 0, SimicError)
        require_int("max_concurrent_trials", self.max_concurrent_trials, 0, SimicError)

    @property
    def dimensions(self) -> tuple[SearchDimension, ...]:
        """Every dimension of the search, the training seeds first."""
        return (SearchDimension("seed", GRID, self.seeds), *self.search)

    @property
    def trial_count(self) -> int:
        return self.samples * math.prod(d.size for d in self.dimensions)

    def trial_config(self, params: Mapping[str, Any], out: str) -> TrainConfig:
        """The training run of the trial whose searched values are ``params`` (nested)."""
        data = self.train.to_dict()
        for key, value in params.items():
            if key in SECTIONS:
                value = {**data[key], **value}
            data[key] = value
        return TrainConfig.from_mapping({**data, "out": out, "progress_bar": False})

    def _check_combinations(self) -> None:
        """Every combination (capped) is a valid training run on a working environment."""
        checked_envs: list[Mapping[str, Any]] = []
        for flat in itertools.islice(self._combinations(), MAX_CHECKED):
            try:
                config = self.trial_config(nest(flat), out=self.train.out)
                if config.env_kwargs not in checked_envs:
                    check_env_kwargs(config.env, config.env_kwargs).close()
                    checked_envs.append(config.env_kwargs)
            except UserError as exc:  # the message says which values of the search fail
                shown = ", ".join(f"{path}={value!r}" for path, value in flat.items())
                raise SimicError(f"search values {shown}: {exc}") from None
        env = check_env_kwargs(self.train.env, self.train.env_kwargs)
        for spec in self.evaluation.baselines:
            make_policy(spec, env)  # an unknown name raises with a did-you-mean
        env.close()

    def _combinations(self) -> Iterator[dict[str, Any]]:
        dims = self.dimensions
        for values in itertools.product(*(d.checked_values for d in dims)):
            yield {d.path: v for d, v in zip(dims, values, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """The config as a file would write it (what ``STORAGE/sweep_config.json`` records)."""
        base = {k: v for k, v in self.train.to_dict().items() if k not in EXCLUDED}
        return {
            **base,
            "seeds": list(self.seeds),
            "search": {d.path: d.to_dict() for d in self.search},
            "samples": self.samples,
            "search_seed": self.search_seed,
            "evaluation": {
                "episodes": self.evaluation.episodes,
                "seed": self.evaluation.seed,
                "baselines": list(self.evaluation.baselines),
            },
            "resources": dataclasses.asdict(self.resources),
            "max_concurrent_trials": self.max_concurrent_trials,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SweepConfig:
        """Build from a config file's mapping; every mistake is a one-line error."""
        for key in data:
            if key in EXCLUDED:
                raise SimicError(f"sweep config key {key!r} cannot be set: {EXCLUDED[key]}")
        ppo_hints = [f"ppo.{f.name}" for f in dataclasses.fields(PPOConfig)]
        reject_unknown("sweep config", data, [*train_keys(), *SWEEP_KEYS], hints=ppo_hints)
        train = TrainConfig.from_mapping({k: v for k, v in data.items() if k not in SWEEP_KEYS})
        seeds = data.get("seeds", (0,))
        search = section("search", data.get("search"), "ppo.ent_coef: {grid: [0.0, 0.01]}")
        return cls(
            train=dataclasses.replace(train, seed=_first(seeds), progress_bar=False),
            seeds=seeds,
            search=tuple(parse_dimension(path, spec) for path, spec in search.items()),
            samples=data.get("samples", 1),
            search_seed=data.get("search_seed", 0),
            evaluation=_evaluation(data.get("evaluation")),
            resources=_resources(data.get("resources")),
            max_concurrent_trials=data.get("max_concurrent_trials", 0),
        )


def _first(seeds: object) -> int:
    """A valid base seed whatever ``seeds`` holds (SweepConfig reports a bad list itself)."""
    if isinstance(seeds, Sequence) and seeds and isinstance(seeds[0], int):
        return max(0, seeds[0])
    return 0


def section(name: str, value: object, example: str) -> Mapping[str, Any]:
    """A config section (a mapping; missing or ``null`` is empty), or a one-line error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SimicError(f"{name} must be a mapping (e.g. {name}: {{{example}}}), got {value!r}")
    return value


def _evaluation(value: object) -> EvaluationSettings:
    data = section("evaluation", value, "episodes: 10, seed: 1000, baselines: [heuristic]")
    names = [f.name for f in dataclasses.fields(EvaluationSettings)]
    reject_unknown("evaluation", data, names)
    return EvaluationSettings(**data)


def _resources(value: object) -> Resources:
    data = section("resources", value, "cpu: 1")
    reject_unknown("resources", data, [f.name for f in dataclasses.fields(Resources)])
    return Resources(**data)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"ppo.gamma": 0.9, "seed": 1}`` -> ``{"ppo": {"gamma": 0.9}, "seed": 1}``."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *sections, key = path.split(".")
        target = nested
        for name in sections:
            target = target.setdefault(name, {})
        target[key] = value
    return nested


def lookup(params: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of nested ``params`` (``None`` if absent)."""
    value: Any = params
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def config_changes(recorded: Mapping[str, Any], config: SweepConfig) -> list[str]:
    """The top-level keys where ``config`` differs from a recorded ``to_dict()`` (JSON)."""
    now = json.loads(json.dumps(config.to_dict()))
    keys = sorted(set(recorded) | set(now))
    return [k for k in keys if recorded.get(k) != now.get(k)]
