"""GrowthEnvConfig: every keyword argument of the growth environments, typed and validated."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from envs.reward import RewardConfig, RewardFn, RewardMode
from envs.tasks import TaskSpec, get_task
from kasmina import AlphaSchedule, BlueprintRegistry, LifecycleConfig, OptimizerSpec
from kasmina.errors import UnknownChoiceError, UserError
from kasmina.memory import PressureProbe
from kasmina.validation import reject_unknown, require_device, require_int, require_number

_POSITIVE_INTS = (
    "budget",
    "batches_per_step",
    "batch_size",
    "training_ticks",
    "blending_ticks",
    "embargo_ticks",
    "val_batch_size",
)
_NON_NEGATIVE = ("param_rent", "invalid_action_penalty", "divergence_penalty", "weight_decay")


class ConfigError(UserError, ValueError):
    """A GrowthEnv keyword argument with a bad value."""


@dataclass(frozen=True)
class GrowthEnvConfig:
    """Keyword arguments of :class:`~envs.GrowthEnv` (all optional).

    Episode and training:
        budget: Environment steps per episode (one episode = one training run).
        batches_per_step: Training batches of host and seeds per step.
        batch_size: Samples per training batch.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (host and seeds).
        host_lr: Learning rate of the host (and of fossilized seeds).
        seed_lr: Learning rate of each live seed's own optimizer.
        weight_decay: Weight decay of both.
        val_batch_size: Chunk size of validation passes (bounds memory; keep it fixed to
            reproduce numbers bit for bit, as exported models do).
        train_fraction: Fraction of the training split the host trains on (its first
            ``ceil(fraction * n)`` samples, at least one batch): a smaller data set.
        early_classes: Class-incremental training: only classes ``0 .. early_classes - 1``
            are trained on until step ``class_shift_step``, then all (validation and test
            always hold every class). ``None``: every class from the start.
        class_shift_step: The step at which the other classes arrive (with ``early_classes``).

    Growth:
        host_widths: Block widths of a CNN task's host, e.g. ``(12, 24)`` (one slot per block;
            default ``None``: the task's own widths). Task families set it per instance.
        slots: Injection points the agent may grow into (default: all of the host's).
        blueprints: Blueprints the agent may germinate (default: the task's set).
        training_ticks: Steps a seed trains in incubator mode before blending.
        blending_ticks: Steps over which its alpha ramps up.
        embargo_ticks: Steps a pruned slot stays embargoed.
        alpha_schedule: ``"linear"`` or ``"cosine"``.
        min_prune_age: Steps since germination before a seed may be pruned.

    Reward (see :mod:`envs.reward`):
        reward: ``"dense"``, ``"terminal"`` or a callable ``f(RewardContext) -> float``.
        param_rent: lambda, the rent per unit of seed/host parameter ratio per episode.
        invalid_action_penalty: Subtracted when a masked action is taken (a no-op).
        divergence_penalty: Subtracted when the training loss stops being finite.
        strict: Raise :class:`~envs.actions.InvalidActionError` on a masked action instead.

    Machine:
        device: Torch device for host, seeds and data.
        torch_threads: Torch intra-op threads while the env works (restored after each call);
            1 lets parallel envs scale; ``None`` leaves torch's setting alone.
        data_dir: Where to read (CIFAR-10) or cache (MNIST-1D) data.
        memory_probe: Pressure probe for the memory governor (tests inject one).
        record_timing: Add wall-clock timings to ``info["timing"]`` (makes info
            non-deterministic, so off by default).
    """

    budget: int = 25
    batches_per_step: int = 8
    batch_size: int = 64
    optimizer: str = "adam"
    host_lr: float = 3e-3
    seed_lr: float = 3e-3
    weight_decay: float = 0.0
    val_batch_size: int = 500
    train_fraction: float = 1.0
    early_classes: int | None = None
    class_shift_step: int = 0
    host_widths: tuple[int, ...] | None = None
    slots: tuple[str, ...] | None = None
    blueprints: tuple[str, ...] | None = None
    training_ticks: int = 2
    blending_ticks: int = 2
    embargo_ticks: int = 2
    alpha_schedule: str = "linear"
    min_prune_age: int = 2
    reward: str | RewardFn = "dense"
    param_rent: float = 0.05
    invalid_action_penalty: float = 0.01
    divergence_penalty: float = 1.0
    strict: bool = False
    device: str = "cpu"
    torch_threads: int | None = 1
    data_dir: str | None = None
    memory_probe: PressureProbe | None = None
    record_timing: bool = False

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            _check_int(name, getattr(self, name), 1)
        _check_int("min_prune_age", self.min_prune_age, 0)
        if self.torch_threads is not None:
            _check_int("torch_threads", self.torch_threads, 1)
        for name in _NON_NEGATIVE:
            _check_number(name, getattr(self, name), allow_zero=True)
        _check_number("host_lr", self.host_lr)
        require_number(
            "GrowthEnv train_fraction", self.train_fraction, low=0.0, low_open=True, high=1.0,
            error=ConfigError,
        )  # fmt: skip
        if self.early_classes is not None:
            _check_int("early_classes", self.early_classes, 1)
        _check_int("class_shift_step", self.class_shift_step, 0)
        _check_number("seed_lr", self.seed_lr)
        if self.host_widths is not None:
            object.__setattr__(
                self, "host_widths", as_widths("GrowthEnv host_widths", self.host_widths)
            )
        for name in ("slots", "blueprints"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_names(name, value))
        for name in ("strict", "record_timing"):
            object.__setattr__(self, name, _as_bool(name, getattr(self, name)))
        self.optimizer_spec(self.host_lr)  # validates the optimizer name
        schedules = [s.value for s in AlphaSchedule]
        if not isinstance(self.alpha_schedule, str) or self.alpha_schedule not in schedules:
            raise UnknownChoiceError("alpha_schedule", self.alpha_schedule, schedules)
        self.reward_config()
        require_device("GrowthEnv device", self.device, error=ConfigError)
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", _as_folder("data_dir", self.data_dir))
        if self.memory_probe is not None and not callable(self.memory_probe):
            raise ConfigError(
                "GrowthEnv memory_probe must be a callable f(torch.device) -> float | None "
                f"or None, got {self.memory_probe!r}"
            )

    @classmethod
    def from_kwargs(cls, task: TaskSpec | str, kwargs: Mapping[str, object]) -> GrowthEnvConfig:
        """Task defaults overlaid with ``kwargs``; unknown keywords raise with suggestions."""
        spec = get_task(task) if isinstance(task, str) else task
        reject_unknown("GrowthEnv", kwargs, [f.name for f in dataclasses.fields(cls)])
        config = cls(**{**spec.defaults, **kwargs})
        if config.host_widths is not None and not spec.takes_widths:
            raise ConfigError(
                f"GrowthEnv host_widths applies to tasks whose host takes widths (the CNN "
                f"tasks); task {spec.name!r} has a {spec.topology} host"
            )
        for name in config.blueprints or ():
            BlueprintRegistry.spec(spec.topology, name)
        return config

    def train_size(self, n: int) -> int:
        """Training samples an episode draws from, of a split of ``n`` (``train_fraction``)."""
        return min(n, max(self.batch_size, math.ceil(self.train_fraction * n)))

    def blueprint_set(self, spec: TaskSpec) -> tuple[str, ...]:
        return self.blueprints if self.blueprints is not None else spec.blueprints

    def lifecycle(self) -> LifecycleConfig:
        return LifecycleConfig(
            self.training_ticks,
            self.blending_ticks,
            self.embargo_ticks,
            AlphaSchedule(self.alpha_schedule),
        )

    def optimizer_spec(self, lr: float) -> OptimizerSpec:
        return OptimizerSpec(self.optimizer, lr, self.weight_decay)

    def reward_config(self) -> RewardConfig:
        mode: RewardMode | RewardFn
        if isinstance(self.reward, str):
            try:
                mode = RewardMode(self.reward)
            except ValueError:
                raise UnknownChoiceError(
                    "reward", self.reward, [m.value for m in RewardMode] + ["<callable>"]
                ) from None
        elif callable(self.reward):
            mode = self.reward
        else:
            raise ConfigError(
                f"reward must be 'dense', 'terminal' or a callable, got {self.reward!r}"
            )
        return RewardConfig(
            mode, self.param_rent, self.invalid_action_penalty, self.divergence_penalty
        )


def _check_int(name: str, value: object, minimum: int) -> None:
    require_int(f"GrowthEnv {name}", value, minimum, ConfigError)


def _check_number(name: str, value: object, allow_zero: bool = False) -> None:
    require_number(f"GrowthEnv {name}", value, low=0.0, low_open=not allow_zero, error=ConfigError)


def _as_names(name: str, value: object) -> tuple[str, ...]:
    # A list or tuple only: a str would be read letter by letter, a set has no fixed order (and
    # the order of slots and blueprints is the layout of the action space).
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"GrowthEnv {name} must be a list of names or None, got {value!r}")
    names = tuple(value)
    if not names or len(set(names)) != len(names):
        raise ConfigError(
            f"GrowthEnv {name} must be a non-empty list without repeats, got {list(names)}"
        )
    return names


def as_widths(name: str, value: object, error: type[UserError] = ConfigError) -> tuple[int, ...]:
    """A non-empty list or tuple of positive ints, as a tuple (host block widths)."""
    # A bool is an int to Python, and a width of True is surely a mistake.
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(w, int | np.integer) and not isinstance(w, bool) for w in value)
        or min(value) < 1
    ):
        raise error(
            f"{name} must be a non-empty list of positive ints (block widths, e.g. [8, 16]), "
            f"got {value!r}"
        )
    return tuple(int(w) for w in value)


def _as_bool(name: str, value: object) -> bool:
    # 1, "yes" or None are refused rather than read as truthy: a flag set by accident is a bug.
    # numpy's bool is accepted (configs built from arrays carry it) and stored as a bool.
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"GrowthEnv {name} must be True or False, got {value!r}")
    return bool(value)


def _as_folder(name: str, value: object) -> str:
    # A str, so that the per-process data memo (keyed on it) finds Path("d") and "d" alike. An
    # empty path would silently mean the current folder (or, for the cache, the default one).
    if isinstance(value, str | os.PathLike):
        folder = os.fspath(value)
        if isinstance(folder, str) and os.path.exists(folder) and not os.path.isdir(folder):
            raise ConfigError(f"GrowthEnv {name} {folder!r} is a file, not a folder")
        if isinstance(folder, str) and folder:
            return folder
    raise ConfigError(
        f"GrowthEnv {name} must be a folder path (str or os.PathLike) or None, got {value!r}"
    )
