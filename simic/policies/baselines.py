"""The simple baselines: random, nogrow and growall.

========== ==============================================================================
random     uniform over the valid actions, from its own seeded generator
nogrow     always WAIT: the static host trained for the whole budget
growall    "just start with a bigger network": the largest blueprint into every slot at
           once, every seed fossilized, nothing pruned
========== ==============================================================================
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.actions import ActionKind
from kasmina import SeedStage
from simic.policies.base import WAIT_INDEX, MaskedPolicy
from simic.policies.costs import BlueprintCosts
from simic.policies.registry import register_policy


@register_policy("random")
class RandomPolicy(MaskedPolicy):
    """Uniform over the valid actions, from its own generator (reseeded by :meth:`reset`)."""

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._rng = np.random.default_rng(seed)

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        return int(self._rng.choice(np.flatnonzero(action_masks)))


@register_policy("nogrow")
class NoGrowPolicy(MaskedPolicy):
    """Always WAIT: the static host."""

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        return WAIT_INDEX


@register_policy("growall")
class GrowAllPolicy(MaskedPolicy):
    """Just start with a bigger network: the largest blueprint in every slot, kept forever.

    Each step it fossilizes a HOLDING seed if there is one, else germinates the largest
    blueprint (by real parameter count at the slot's width) into the first DORMANT slot, so the
    slots fill one per step from the start. It never prunes.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.env = env

    @property
    def largest(self) -> dict[str, str]:
        """Per slot, its largest blueprint on the current host (widths change on a family)."""
        costs = BlueprintCosts.of(self.env)
        return {s: b for s in self.slots if (b := costs.largest(s)) is not None}

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        slots = self.read(observation).slots
        fossilize = [
            self.action(ActionKind.FOSSILIZE, slot)
            for slot, s in slots.items()
            if s.stage is SeedStage.HOLDING
        ]
        largest = self.largest
        germinate = [
            self.action(ActionKind.GERMINATE, slot, largest[slot])
            for slot, s in slots.items()
            if s.stage is SeedStage.DORMANT and slot in largest
        ]
        return self.first_valid([*fossilize, *germinate], action_masks)
