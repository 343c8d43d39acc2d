"""Seed ranges: training episodes draw from [10**9, 2*10**9), evaluation stays below, and the
wrappers that apply them are reproducible from one seed."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from simic.common.errors import SimicError
from simic.common.seeding import (
    EVALUATION_SEED_LIMIT,
    TRAINING_SEEDS,
    SeedCycle,
    TrainingSeeds,
    draw_training_seeds,
    training_seed,
)
from simic.evaluation import EvaluateConfig


class SeedRecorder(gym.Env):
    """An env that only remembers the seeds it was reset with."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def __init__(self) -> None:
        self.seeds: list[int | None] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.seeds.append(seed)
        return 0, {}


def test_the_ranges_do_not_meet():
    low, high = TRAINING_SEEDS
    assert EVALUATION_SEED_LIMIT == low < high


def test_drawn_training_seeds_are_in_range_and_follow_the_generator():
    seeds = draw_training_seeds(np.random.default_rng(7), 50)
    assert len(seeds) == 50 and all(TRAINING_SEEDS[0] <= s < TRAINING_SEEDS[1] for s in seeds)
    assert seeds == draw_training_seeds(np.random.default_rng(7), 50)
    assert seeds != draw_training_seeds(np.random.default_rng(8), 50)
    assert all(type(s) is int for s in seeds)  # JSON-able, not numpy integers


def test_fixed_training_seeds_count_from_the_range_start():
    assert training_seed(0) == TRAINING_SEEDS[0] and training_seed(3) == TRAINING_SEEDS[0] + 3
    with pytest.raises(ValueError, match="outside"):
        training_seed(-1)
    with pytest.raises(ValueError, match="outside"):
        training_seed(TRAINING_SEEDS[1] - TRAINING_SEEDS[0])


def test_training_seeds_are_reproducible_from_the_first_reset_seed():
    def episodes(seed: int) -> list[int | None]:
        wrapper = TrainingSeeds(SeedRecorder())
        wrapper.reset(seed=seed)
        for _ in range(4):
            wrapper.reset()
        return wrapper.unwrapped.seeds

    first = episodes(3)
    assert first == episodes(3) and first != episodes(4)
    assert all(TRAINING_SEEDS[0] <= s < TRAINING_SEEDS[1] for s in first)
    assert len(set(first)) == 5  # no seed is passed through: 3 itself is never an episode


def test_seed_cycle_replays_its_seeds_and_restarts():
    wrapper = SeedCycle(SeedRecorder(), [5, 6])
    for _ in range(3):
        wrapper.reset(seed=99)  # the cycle decides, not the caller
    wrapper.restart()
    wrapper.reset()
    assert wrapper.unwrapped.seeds == [5, 6, 5, 5]
    with pytest.raises(ValueError, match="at least one seed"):
        SeedCycle(SeedRecorder(), [])


def test_evaluation_refuses_seeds_that_reach_the_training_range():
    EvaluateConfig(seed=EVALUATION_SEED_LIMIT - 2, episodes=2)
    with pytest.raises(SimicError, match="below 10\\*\\*9"):
        EvaluateConfig(seed=EVALUATION_SEED_LIMIT - 2, episodes=3)
