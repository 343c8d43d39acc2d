"""Open-loop growth schedules: germinate given seeds at given steps, fossilize when HOLDING.

A :class:`Schedule` ignores everything the environment observes except the step count and
the slots' stages. On one fixed task a good schedule is as good as any controller (see
``docs/learning-notes.md``), which makes the best schedule per instance the baseline a
learned controller must beat. Schedules are written as text, e.g.
``"block1:attention@0+block0:conv_light@4"`` (``none`` is the empty schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from envs.actions import ActionKind
from kasmina import SeedStage
from simic.policies.base import WAIT_INDEX, MaskedPolicy, PolicyError, growth_env

EMPTY = "none"


@dataclass(frozen=True)
class Germination:
    """Germinate ``blueprint`` into ``slot`` at step ``step`` (or as soon after as allowed)."""

    step: int
    slot: str
    blueprint: str

    def __str__(self) -> str:
        return f"{self.slot}:{self.blueprint}@{self.step}"


@dataclass(frozen=True)
class Schedule:
    """At most one germination per slot; every seed fossilized as soon as it is HOLDING."""

    germinations: tuple[Germination, ...] = ()

    def __post_init__(self) -> None:
        slots = [g.slot for g in self.germinations]
        if len(set(slots)) != len(slots):
            raise PolicyError(f"a schedule germinates each slot at most once, got {self}")

    def __str__(self) -> str:
        return "+".join(str(g) for g in self.germinations) or EMPTY

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """The schedule written as :meth:`__str__` writes it."""
        if text.strip() == EMPTY:
            return cls()
        items = []
        for part in text.split("+"):
            slot, _, rest = part.strip().partition(":")
            blueprint, _, step = rest.partition("@")
            if not (slot and blueprint and step.isdigit()):
                raise PolicyError(
                    f"schedule entry {part!r} is not SLOT:BLUEPRINT@STEP (e.g. block1:attention@0)"
                )
            items.append(Germination(int(step), slot, blueprint))
        return cls(tuple(sorted(items, key=lambda g: (g.step, g.slot))))


class SchedulePolicy(MaskedPolicy):
    """Plays one :class:`Schedule` (fossilizing first, then germinating what is due)."""

    name = "schedule"

    def __init__(self, env: gym.Env, schedule: Schedule) -> None:
        super().__init__(env)
        self.env = env
        self.set_schedule(schedule)
        self._germinated: set[str] = set()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._germinated = set()  # a slot is grown once per episode, even if a seed is lost

    def set_schedule(self, schedule: Schedule) -> None:
        unknown = [
            g
            for g in schedule.germinations
            if g.slot not in self.slots or g.blueprint not in self.codec.blueprints
        ]
        if unknown:
            raise PolicyError(
                f"schedule {schedule} names slots or blueprints this environment lacks "
                f"(slots {list(self.slots)}, blueprints {list(self.codec.blueprints)})"
            )
        self.schedule = schedule

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        view = self.read(observation)
        step = round(view.budget_used * growth_env(self.env).config.budget)
        holding = [
            self.action(ActionKind.FOSSILIZE, slot)
            for slot, s in view.slots.items()
            if s.stage is SeedStage.HOLDING
        ]
        due = [
            self.action(ActionKind.GERMINATE, g.slot, g.blueprint)
            for g in self.schedule.germinations
            if g.step <= step
            and g.slot not in self._germinated
            and view.slots[g.slot].stage is SeedStage.DORMANT
        ]
        chosen = self.first_valid([*holding, *due, WAIT_INDEX], action_masks)
        action = self.codec.decode(chosen)
        if action.kind is ActionKind.GERMINATE:
            self._germinated.add(action.slot)  # type: ignore[arg-type]
        return chosen
