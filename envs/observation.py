"""The observation layout: one fixed-size float32 vector, every entry named, bounded and scaled.

Every feature lies in a documented range of roughly unit size. A value that has not been
measured yet (no training step taken, no seed in the slot, a probe that cannot read memory) is
the sentinel :data:`UNKNOWN` = -2.0, below every real value, never a fake "healthy" value.
``ObservationLayout.table()`` renders the table the docs show, from the same definitions the
environment fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from kasmina import SeedStage

UNKNOWN = -2.0
"""Sentinel for "not measured"; it lies below the range of every feature that can be unknown."""


@dataclass(frozen=True)
class Feature:
    """One entry of the observation vector."""

    name: str
    low: float
    high: float
    description: str
    may_be_unknown: bool = False

    @property
    def space_low(self) -> float:
        return UNKNOWN if self.may_be_unknown else self.low


def squash(ratio: float) -> float:
    """Map a non-negative ratio to [0, 1): r / (1 + r) (0 -> 0, 1 -> 0.5, large -> 1)."""
    return ratio / (1.0 + ratio)


_GLOBAL = (
    Feature("budget_used", 0, 1, "steps taken / budget"),
    Feature("train_loss", 0, 3, "last step's mean training loss / ln(classes), clipped", True),
    Feature("val_loss", 0, 3, "validation loss / ln(classes), clipped"),
    Feature("train_accuracy", 0, 1, "last step's training accuracy", True),
    Feature("val_accuracy", 0, 1, "validation accuracy"),
    Feature("val_accuracy_delta", -1, 1, "10 x change of validation accuracy over 1 step", True),
    Feature("val_accuracy_delta3", -1, 1, "10 x change of validation accuracy over 3 steps", True),
    Feature("train_loss_delta", -1, 1, "5 x change of the scaled training loss over 1 step", True),
    Feature("best_val_accuracy", 0, 1, "best validation accuracy so far this episode"),
    Feature("param_growth", 0, 1, "squash(seed parameters / host parameters)"),
    Feature("memory_pressure", 0, 1, "device memory used / total (0 on CPU)", True),
    Feature("checkpointing", 0, 1, "1 if activation checkpointing is on"),
)


def _slot_features(slot: str, blueprints: Sequence[str]) -> list[Feature]:
    stages = [
        Feature(f"{slot}.stage.{s.name}", 0, 1, f"1 if the slot is {s.name}") for s in SeedStage
    ]
    kinds = [
        Feature(f"{slot}.blueprint.{b}", 0, 1, f"1 if the slot's seed is {b}") for b in blueprints
    ]
    return [
        *stages,
        *kinds,
        Feature(f"{slot}.alpha", 0, 1, "blending weight of the seed"),
        Feature(f"{slot}.steps_in_stage", 0, 1, "lifecycle ticks in the current stage / budget"),
        Feature(f"{slot}.param_share", 0, 1, "squash(seed parameters / host parameters)"),
        Feature(
            f"{slot}.contribution",
            -1,
            1,
            "5 x (validation accuracy with the seed - without it), clipped; a TRAINING "
            "seed is measured fully blended in; live seeds only",
            True,
        ),
        Feature(
            f"{slot}.grad_ratio",
            0,
            1,
            "squash(seed gradient norm / host gradient norm) on the last batch; live seeds only",
            True,
        ),
    ]


class ObservationLayout:
    """The features of an environment with the given slots and blueprint set, in order."""

    def __init__(self, slots: Sequence[str], blueprints: Sequence[str]) -> None:
        self.slots, self.blueprints = tuple(slots), tuple(blueprints)
        self.features: tuple[Feature, ...] = _GLOBAL + tuple(
            f for s in self.slots for f in _slot_features(s, self.blueprints)
        )
        self.index = {f.name: i for i, f in enumerate(self.features)}
        self.low = np.array([f.space_low for f in self.features], dtype=np.float32)
        self.high = np.array([f.high for f in self.features], dtype=np.float32)
        self._clip_low = np.array([f.low for f in self.features], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def space(self) -> spaces.Box:
        return spaces.Box(self.low, self.high, dtype=np.float32)

    def empty(self) -> np.ndarray:
        """A vector with every feature unknown (or at its lower bound if it cannot be)."""
        return self.low.copy()

    def finish(self, values: np.ndarray) -> np.ndarray:
        """Clip measured values into their ranges; sentinels and NaN become "unknown".

        An infinite value (a diverged loss) is clipped to its bound, which says more than
        "unknown". A feature that cannot be unknown falls back to its lower bound.
        """
        values = np.asarray(values, dtype=np.float64)
        unknown = (values == UNKNOWN) | np.isnan(values)
        out = np.clip(np.nan_to_num(values, nan=0.0), self._clip_low, self.high)
        out[unknown] = self.low[unknown]
        return out.astype(np.float32)

    def table(self) -> str:
        """The layout as a Markdown table (index, name, range, meaning)."""
        rows = ["| index | feature | range | meaning |", "|---|---|---|---|"]
        for i, f in enumerate(self.features):
            span = f"[{f.low:g}, {f.high:g}]" + (" or -2 (unknown)" if f.may_be_unknown else "")
            rows.append(f"| {i} | `{f.name}` | {span} | {f.description} |")
        return "\n".join(rows)
