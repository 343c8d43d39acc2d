"""The flat Discrete action space of the growth environments, and its masks.

Layout for S slots and B blueprints (``n = 1 + S*B + 2*S``)::

    0                      WAIT
    1 + s*B + b            GERMINATE(slot s, blueprint b)
    1 + S*B + s            FOSSILIZE(slot s)
    1 + S*B + S + s        PRUNE(slot s)

One flat Discrete (rather than a MultiDiscrete) so a mask can say "blueprint b is invalid in slot
s" and WAIT can always be valid.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from kasmina import SeedStage
from kasmina.errors import InvalidValueError, KasminaError, UnknownChoiceError


class ActionKind(str, Enum):
    """What an action does."""

    WAIT = "wait"
    GERMINATE = "germinate"
    FOSSILIZE = "fossilize"
    PRUNE = "prune"


@dataclass(frozen=True)
class GrowthAction:
    """A decoded action: a kind, and the slot (and blueprint) it applies to."""

    kind: ActionKind
    slot: str | None = None
    blueprint: str | None = None

    def __post_init__(self) -> None:
        needs_slot = self.kind is not ActionKind.WAIT
        needs_blueprint = self.kind is ActionKind.GERMINATE
        if needs_slot != (self.slot is not None) or needs_blueprint != (self.blueprint is not None):
            raise InvalidValueError(
                f"malformed action {self}: WAIT takes no slot, GERMINATE takes a "
                "slot and a blueprint, FOSSILIZE and PRUNE take a slot"
            )

    def __str__(self) -> str:
        args = [a for a in (self.slot, self.blueprint) if a is not None]
        return f"{self.kind.name}({', '.join(args)})" if args else self.kind.name


WAIT = GrowthAction(ActionKind.WAIT)


class InvalidActionError(KasminaError, ValueError):
    """An action that is not an index, out of range, or masked now (with ``strict=True``).

    Not a :class:`~kasmina.errors.UserError`: actions come from an agent's code, so one that is
    not valid is a bug in that code, to be seen with its traceback.
    """


def action_index(action: object, n: int) -> int:
    """The action index behind ``action``, checked to lie in ``0..n-1``.

    An index is an ``int``, a numpy integer, or a one-element integer array (``np.array(2)``,
    ``np.array([2])``: what vector envs and SB3 pass), or anything else ``operator.index``
    accepts (a one-element integer tensor). Anything else raises :class:`InvalidActionError`,
    rather than being cut to an int: ``int(2.7)`` would silently play action 2.
    """
    value = action
    if isinstance(value, np.ndarray) and value.shape == (1,):
        value = value[0]
    # bool is an int subclass (True would play action 1), but never meant as an action index.
    is_bool = isinstance(value, bool | np.bool_) or getattr(value, "dtype", None) == torch.bool
    try:
        if is_bool:
            raise TypeError
        index = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidActionError(
            f"action {action!r} is not an action index: expected an int in 0..{n - 1} (a numpy "
            "integer or a one-element integer array also works)"
        ) from None
    if not 0 <= index < n:
        raise InvalidActionError(f"action {action!r} is out of range: valid actions are 0..{n - 1}")
    return index


@dataclass(frozen=True)
class ActionCodec:
    """Converts between action integers and :class:`GrowthAction` for fixed slots/blueprints."""

    slots: tuple[str, ...]
    blueprints: tuple[str, ...]

    @property
    def n(self) -> int:
        """Number of discrete actions."""
        return 1 + len(self.slots) * len(self.blueprints) + 2 * len(self.slots)

    def decode(self, action: int) -> GrowthAction:
        """The typed action behind integer ``action`` (see :func:`action_index`)."""
        index = action_index(action, self.n)
        if index == 0:
            return WAIT
        s_count, b_count = len(self.slots), len(self.blueprints)
        index -= 1
        if index < s_count * b_count:
            slot, blueprint = divmod(index, b_count)
            return GrowthAction(ActionKind.GERMINATE, self.slots[slot], self.blueprints[blueprint])
        index -= s_count * b_count
        kind = ActionKind.FOSSILIZE if index < s_count else ActionKind.PRUNE
        return GrowthAction(kind, self.slots[index % s_count])

    def encode(self, action: GrowthAction) -> int:
        """The integer of ``action``; unknown slots or blueprints raise with suggestions."""
        if action.kind is ActionKind.WAIT:
            return 0
        if action.slot not in self.slots:
            raise UnknownChoiceError("slot", action.slot, self.slots)
        s, s_count, b_count = self.slots.index(action.slot), len(self.slots), len(self.blueprints)
        if action.kind is ActionKind.GERMINATE:
            if action.blueprint not in self.blueprints:
                raise UnknownChoiceError(
                    "blueprint",
                    action.blueprint,
                    self.blueprints,
                    context="in this environment's blueprint set",
                )
            return 1 + s * b_count + self.blueprints.index(action.blueprint)
        offset = 0 if action.kind is ActionKind.FOSSILIZE else s_count
        return 1 + s_count * b_count + offset + s

    def masks(
        self, stages: Sequence[SeedStage], ages: Sequence[int], min_prune_age: int
    ) -> np.ndarray:
        """Boolean mask of valid actions given each slot's stage and seed age (in steps)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[0] = True
        s_count, b_count = len(self.slots), len(self.blueprints)
        for s, (stage, age) in enumerate(zip(stages, ages, strict=True)):
            if stage is SeedStage.DORMANT:
                mask[1 + s * b_count : 1 + (s + 1) * b_count] = True
            if stage is SeedStage.HOLDING:
                mask[1 + s_count * b_count + s] = True
            if stage.is_live and age >= min_prune_age:
                mask[1 + s_count * b_count + s_count + s] = True
        return mask

    def why_invalid(
        self, action: GrowthAction, stage: SeedStage, age: int, min_prune_age: int
    ) -> str:
        """A sentence saying why ``action`` is masked in ``stage`` (for strict mode)."""
        if action.kind is ActionKind.GERMINATE:
            return f"GERMINATE needs a DORMANT slot; {action.slot} is {stage}"
        if action.kind is ActionKind.FOSSILIZE:
            return f"FOSSILIZE needs a HOLDING seed; {action.slot} is {stage}"
        if not stage.is_live:
            return (
                f"PRUNE needs a live seed (TRAINING, BLENDING, HOLDING); {action.slot} is {stage}"
            )
        return f"PRUNE needs a seed at least {min_prune_age} steps old; {action.slot}'s is {age}"
