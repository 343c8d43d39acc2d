"""Episode seeds for training and evaluation, kept apart.

Evaluation episodes use explicit seeds S, S+1, ..., S+N-1 (small integers, e.g. 1000..1009).
Training episodes draw their seeds from ``TRAINING_SEEDS`` = [10**9, 2 * 10**9), so no training
episode can coincide with an evaluation episode as long as evaluation seeds stay below 10**9.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

TRAINING_SEEDS = (10**9, 2 * 10**9)
"""Training episodes' seeds: ``[low, high)``."""
EVALUATION_SEED_LIMIT = TRAINING_SEEDS[0]
"""Evaluation seeds stay below this, so they never meet a training episode."""


def next_training_seed(rng: np.random.Generator) -> int:
    """The next training episode's seed from ``rng`` (what :class:`TrainingSeeds` resets with)."""
    return int(rng.integers(*TRAINING_SEEDS))


def draw_training_seeds(rng: np.random.Generator, count: int) -> list[int]:
    """``count`` episode seeds from :data:`TRAINING_SEEDS`, drawn from ``rng``."""
    return [int(s) for s in rng.integers(*TRAINING_SEEDS, count)]


def training_seed(k: int) -> int:
    """The ``k``-th fixed training-range seed (``TRAINING_SEEDS[0] + k``), for a fixed list."""
    if not 0 <= k < TRAINING_SEEDS[1] - TRAINING_SEEDS[0]:
        raise ValueError(
            f"training seed index {k} is outside [0, {TRAINING_SEEDS[1] - TRAINING_SEEDS[0]})"
        )
    return TRAINING_SEEDS[0] + k


class TrainingSeeds(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Every reset uses an explicit episode seed drawn from :data:`TRAINING_SEEDS`.

    ``reset(seed=s)`` (what vector envs pass on their first reset) seeds the wrapper's own
    generator; later resets without a seed draw the next episode seed from it.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self._rng = np.random.default_rng()
        self.last_seed: int | None = None

    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.last_seed = next_training_seed(self._rng)
        return self.env.reset(seed=self.last_seed, options=options)


class SeedCycle(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Resets cycle through a fixed list of held-out seeds; ``restart()`` goes back to the first.

    Used for periodic evaluation during training, so every evaluation round plays the same
    episodes and rounds are comparable.
    """

    def __init__(self, env: gym.Env, seeds: Sequence[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, seeds=list(seeds))
        gym.Wrapper.__init__(self, env)
        if not seeds:
            raise ValueError("SeedCycle needs at least one seed")
        self.seeds = tuple(int(s) for s in seeds)
        self._next = 0

    def restart(self) -> None:
        self._next = 0

    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        episode_seed = self.seeds[self._next % len(self.seeds)]
        self._next += 1
        return self.env.reset(seed=episode_seed, options=options)

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()  # type: ignore[attr-defined]
