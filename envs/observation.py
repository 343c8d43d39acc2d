"""The observation layout: one fixed-size float32 vector, every entry named, bounded and scaled.

Every feature lies in a documented range of roughly unit size. A value that has not been
measured yet (no training step taken, no seed in the slot, a probe that cannot read memory) is
the sentinel :data:`UNKNOWN` = -2.0, below every real value, never a fake "healthy" value.

This module owns the vector's meaning: :class:`ObservationView` and :class:`SlotView` declare
each feature once (a field, with its range and meaning), :meth:`ObservationLayout.write` turns a
view into the vector the environment returns and :meth:`ObservationLayout.read` turns a vector
back into a view, so no other code indexes the vector by name. ``ObservationLayout.table()``
renders the table the docs show from the same declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from kasmina import SeedStage

UNKNOWN = -2.0
"""Sentinel for "not measured"; it lies below the range of every feature that can be unknown."""

_STAGES = tuple(SeedStage)


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


def _feature(low: float, high: float, description: str, may_be_unknown: bool = False) -> Any:
    # A view field that is also a vector entry: its range and meaning live beside its name.
    return field(metadata={"feature": (low, high, description, may_be_unknown)})


@dataclass(frozen=True)
class SlotView:
    """One slot's features (``None``: not measured, the vector's :data:`UNKNOWN`).

    ``stage`` and ``blueprint`` are one-hots in the vector (``blueprint`` is ``None`` when the
    slot holds no seed of the environment's set); the other fields are one entry each, in order.
    """

    stage: SeedStage
    blueprint: str | None
    alpha: float = _feature(0, 1, "blending weight of the seed")
    steps_in_stage: float = _feature(0, 1, "lifecycle ticks in the current stage / budget")
    param_share: float = _feature(0, 1, "squash(seed parameters / host parameters)")
    contribution: float | None = _feature(
        -1,
        1,
        "5 x (validation accuracy with the seed - without it), clipped; a TRAINING "
        "seed is measured fully blended in; live seeds only",
        True,
    )
    grad_ratio: float | None = _feature(
        0,
        1,
        "squash(seed gradient norm / host gradient norm) on the last batch; live seeds only",
        True,
    )


PRICE_SCALE = 0.15
"""``context.price`` is ``param_rent / PRICE_SCALE``: 1 at the dearest training price."""


@dataclass(frozen=True)
class ContextView:
    """What a task family's episode is about: the instance features the controller observes.

    Only task-family environments (:mod:`envs.family`) observe a context; it follows the slots
    in their vector as ``context.<field>``.
    """

    price: float = _feature(0, 2, f"param_rent / {PRICE_SCALE:g}, clipped")
    host_size: float = _feature(0, 2, "log10(host parameters) / 5, clipped")


@dataclass(frozen=True)
class ObservationView:
    """One observation, decoded: the global features as attributes, then ``slots[slot_id]``.

    ``None`` is a feature that has not been measured (the vector's :data:`UNKNOWN`).
    ``context`` is the instance context of a task-family env (``None`` for a plain env).
    """

    budget_used: float = _feature(0, 1, "steps taken / budget")
    train_loss: float | None = _feature(
        0, 3, "last step's mean training loss / ln(classes), clipped", True
    )
    val_loss: float = _feature(0, 3, "validation loss / ln(classes), clipped")
    train_accuracy: float | None = _feature(0, 1, "last step's training accuracy", True)
    val_accuracy: float = _feature(0, 1, "validation accuracy")
    val_accuracy_delta: float | None = _feature(
        -1, 1, "10 x change of validation accuracy over 1 step", True
    )
    val_accuracy_delta3: float | None = _feature(
        -1, 1, "10 x change of validation accuracy over 3 steps", True
    )
    train_loss_delta: float | None = _feature(
        -1, 1, "5 x change of the scaled training loss over 1 step", True
    )
    best_val_accuracy: float = _feature(0, 1, "best validation accuracy so far this episode")
    param_growth: float = _feature(0, 1, "squash(seed parameters / host parameters)")
    memory_pressure: float | None = _feature(0, 1, "device memory used / total (0 on CPU)", True)
    checkpointing: float = _feature(0, 1, "1 if activation checkpointing is on")
    slots: Mapping[str, SlotView]
    context: ContextView | None = None


def _declared(view_class: type) -> tuple[Feature, ...]:
    return tuple(
        Feature(f.name, *f.metadata["feature"])
        for f in dataclasses.fields(view_class)
        if "feature" in f.metadata
    )


_GLOBAL = _declared(ObservationView)
_SLOT_SCALARS = _declared(SlotView)
_CONTEXT = tuple(dataclasses.replace(f, name=f"context.{f.name}") for f in _declared(ContextView))


def _slot_features(slot: str, blueprints: Sequence[str]) -> list[Feature]:
    stages = [
        Feature(f"{slot}.stage.{s.name}", 0, 1, f"1 if the slot is {s.name}") for s in _STAGES
    ]
    kinds = [
        Feature(f"{slot}.blueprint.{b}", 0, 1, f"1 if the slot's seed is {b}") for b in blueprints
    ]
    scalars = [dataclasses.replace(f, name=f"{slot}.{f.name}") for f in _SLOT_SCALARS]
    return [*stages, *kinds, *scalars]


def _known(value: float) -> float | None:
    # Sentinels are exactly -2; anything within half a unit of it can only be the sentinel.
    return None if value <= UNKNOWN + 0.5 else float(value)


@dataclass(frozen=True)
class _SlotIndex:
    """Where one slot's features sit in the vector."""

    stages: np.ndarray
    blueprints: np.ndarray
    scalars: tuple[tuple[Feature, int], ...]


class ObservationLayout:
    """The features of an environment with the given slots and blueprint set, in order.

    With ``context=True`` (task families) the :class:`ContextView` features follow the slots.
    """

    def __init__(
        self, slots: Sequence[str], blueprints: Sequence[str], context: bool = False
    ) -> None:
        self.slots, self.blueprints = tuple(slots), tuple(blueprints)
        self.context = bool(context)
        self.features: tuple[Feature, ...] = (
            _GLOBAL
            + tuple(f for s in self.slots for f in _slot_features(s, self.blueprints))
            + (_CONTEXT if self.context else ())
        )
        self.index = {f.name: i for i, f in enumerate(self.features)}
        self.low = np.array([f.space_low for f in self.features], dtype=np.float32)
        self.high = np.array([f.high for f in self.features], dtype=np.float32)
        self._clip_low = np.array([f.low for f in self.features], dtype=np.float32)
        # Positions resolved once: read() runs every step of every policy.
        self._global = tuple((f, self.index[f.name]) for f in _GLOBAL)
        self._slot_index = {s: self._resolve_slot(s) for s in self.slots}
        self._context = tuple((f, self.index[f.name]) for f in _CONTEXT) if self.context else ()

    def _resolve_slot(self, slot: str) -> _SlotIndex:
        features = _slot_features(slot, self.blueprints)
        stages, rest = features[: len(_STAGES)], features[len(_STAGES) :]
        kinds, scalars = rest[: len(self.blueprints)], rest[len(self.blueprints) :]
        return _SlotIndex(
            np.array([self.index[f.name] for f in stages], dtype=np.int64),
            np.array([self.index[f.name] for f in kinds], dtype=np.int64),
            tuple(zip(_SLOT_SCALARS, (self.index[f.name] for f in scalars), strict=True)),
        )

    def __len__(self) -> int:
        return len(self.features)

    @property
    def context_positions(self) -> tuple[int, ...]:
        """Where the :class:`ContextView` features sit in the vector (none for a plain env)."""
        return tuple(i for _, i in self._context)

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

    # ------------------------------------------------------------------------------ view <-> vector
    def write(self, view: ObservationView) -> np.ndarray:
        """The observation vector of ``view``: one-hots set, values clipped (see :meth:`finish`).

        ``None`` (not measured) becomes :data:`UNKNOWN`, or the lower bound of a feature that
        cannot be unknown.
        """
        v = self.empty()  # float32 from the start: every value is rounded once, as it is set
        for feature, i in self._global:
            _put(v, i, getattr(view, feature.name))
        for slot, where in self._slot_index.items():
            s = view.slots[slot]
            v[where.stages[_STAGES.index(s.stage)]] = 1.0
            if s.blueprint is not None:
                v[where.blueprints[self.blueprints.index(s.blueprint)]] = 1.0
            for feature, i in where.scalars:
                _put(v, i, getattr(s, feature.name))
        if self.context:
            if view.context is None:
                raise ValueError("this layout observes a context: the view needs one")
            for feature, i in self._context:
                _put(v, i, getattr(view.context, feature.name.removeprefix("context.")))
        return self.finish(v)

    def read(self, observation: np.ndarray) -> ObservationView:
        """The view of one observation vector (the inverse of :meth:`write`, up to clipping).

        Stages and blueprints are the largest entries of their one-hots (no blueprint if every
        entry is 0); a feature that may be unknown reads ``None`` at the sentinel.
        """
        obs = np.asarray(observation, dtype=np.float32)
        if obs.shape != (len(self),):
            raise ValueError(f"expected an observation of shape ({len(self)},), got {obs.shape}")
        values = {f.name: _value(f, obs[i]) for f, i in self._global}
        slots = {slot: self._read_slot(obs, where) for slot, where in self._slot_index.items()}
        context = None
        if self.context:
            names = {f.name.removeprefix("context."): float(obs[i]) for f, i in self._context}
            context = ContextView(**names)
        return ObservationView(**values, slots=slots, context=context)

    def _read_slot(self, obs: np.ndarray, where: _SlotIndex) -> SlotView:
        stage = _STAGES[int(np.argmax(obs[where.stages]))]
        kinds = obs[where.blueprints]
        known = kinds.size > 0 and kinds.max() > 0.5
        blueprint = self.blueprints[int(np.argmax(kinds))] if known else None
        values = {f.name: _value(f, obs[i]) for f, i in where.scalars}
        return SlotView(stage, blueprint, **values)

    def table(self) -> str:
        """The layout as a Markdown table (index, name, range, meaning)."""
        rows = ["| index | feature | range | meaning |", "|---|---|---|---|"]
        for i, f in enumerate(self.features):
            span = f"[{f.low:g}, {f.high:g}]" + (" or -2 (unknown)" if f.may_be_unknown else "")
            rows.append(f"| {i} | `{f.name}` | {span} | {f.description} |")
        return "\n".join(rows)


def _put(vector: np.ndarray, index: int, value: float | None) -> None:
    # Unset entries stay at empty()'s value, which finish() reads as "unknown".
    if value is not None:
        vector[index] = value


def _value(feature: Feature, value: np.floating) -> float | None:
    return _known(float(value)) if feature.may_be_unknown else float(value)
