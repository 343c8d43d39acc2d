"""The seed lifecycle: stages, the explicit transition table, and the blending schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from kasmina.errors import UnknownChoiceError
from kasmina.validation import require_int


class SeedStage(Enum):
    """Where a slot's seed is in its life.

    DORMANT -> GERMINATED -> TRAINING -> BLENDING -> HOLDING -> FOSSILIZED;
    TRAINING / BLENDING / HOLDING -> PRUNED -> EMBARGOED -> DORMANT.
    """

    DORMANT = 0
    GERMINATED = 1
    TRAINING = 2
    BLENDING = 3
    HOLDING = 4
    FOSSILIZED = 5
    PRUNED = 6
    EMBARGOED = 7

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        """A seed that exists, trains with its own optimizer, and can still be pruned."""
        return self in LIVE_STAGES

    @property
    def has_seed(self) -> bool:
        """The slot holds a seed module (live, just germinated, or fossilized)."""
        return self in (SeedStage.GERMINATED, *LIVE_STAGES, SeedStage.FOSSILIZED)


LIVE_STAGES = (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.HOLDING)

TRANSITIONS: dict[SeedStage, frozenset[SeedStage]] = {
    SeedStage.DORMANT: frozenset({SeedStage.GERMINATED}),
    SeedStage.GERMINATED: frozenset({SeedStage.TRAINING}),
    SeedStage.TRAINING: frozenset({SeedStage.BLENDING, SeedStage.PRUNED}),
    SeedStage.BLENDING: frozenset({SeedStage.HOLDING, SeedStage.PRUNED}),
    SeedStage.HOLDING: frozenset({SeedStage.FOSSILIZED, SeedStage.PRUNED}),
    SeedStage.FOSSILIZED: frozenset(),
    SeedStage.PRUNED: frozenset({SeedStage.EMBARGOED}),
    SeedStage.EMBARGOED: frozenset({SeedStage.DORMANT}),
}
"""The only legal transitions; anything else raises :class:`IllegalTransitionError`."""


class AlphaSchedule(str, Enum):
    """How alpha ramps from 0 to 1 while a seed is BLENDING."""

    LINEAR = "linear"
    COSINE = "cosine"

    def __call__(self, progress: float) -> float:
        """Alpha at ``progress`` in [0, 1] (clamped)."""
        p = min(max(progress, 0.0), 1.0)
        if self is AlphaSchedule.LINEAR:
            return p
        return 0.5 * (1.0 - math.cos(math.pi * p))


@dataclass(frozen=True)
class LifecycleConfig:
    """Timings of the automatic part of the lifecycle, in lifecycle ticks.

    A tick is one call of :meth:`MorphogeneticModel.advance_lifecycle` (the environment makes
    one per step). GERMINATED moves to TRAINING at the next tick and PRUNED to EMBARGOED;
    the rest is timed here. HOLDING lasts until the seed is fossilized or pruned.

    Attributes:
        training_ticks: Ticks in TRAINING (incubator mode) before BLENDING starts.
        blending_ticks: Ticks spent BLENDING; alpha takes the values ``schedule(k / (n + 1))``
            for k = 1..n, strictly between TRAINING's 0 and HOLDING's 1.
        embargo_ticks: Ticks a pruned slot stays EMBARGOED before it is DORMANT again.
        schedule: Shape of the alpha ramp.
    """

    training_ticks: int = 3
    blending_ticks: int = 3
    embargo_ticks: int = 2
    schedule: AlphaSchedule = AlphaSchedule.LINEAR

    def __post_init__(self) -> None:
        for name in ("training_ticks", "blending_ticks", "embargo_ticks"):
            require_int(f"LifecycleConfig.{name}", getattr(self, name), 1)
        if not isinstance(self.schedule, AlphaSchedule):
            try:
                object.__setattr__(self, "schedule", AlphaSchedule(self.schedule))
            except ValueError:
                raise UnknownChoiceError(
                    "alpha schedule", self.schedule, [s.value for s in AlphaSchedule]
                ) from None


@dataclass(frozen=True)
class StageChange:
    """One lifecycle transition, as reported by the model."""

    slot_id: str
    old: SeedStage
    new: SeedStage
    blueprint: str | None
