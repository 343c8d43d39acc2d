"""Shared settings for environment tests: short, cheap episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import envs

FAST = {
    "budget": 5,
    "batches_per_step": 1,
    "batch_size": 32,
    "training_ticks": 1,
    "blending_ticks": 1,
    "min_prune_age": 1,
}


def make(env_id: str = "simic/Grow-MNIST1D-v0", **kwargs) -> gym.Env:
    return gym.make(env_id, **{**FAST, **kwargs})


def fast_env(task: str = "mnist1d", **kwargs) -> envs.GrowthEnv:
    return envs.GrowthEnv(task, **{**FAST, **kwargs})


def act(env, kind: str, slot: str | None = None, blueprint: str | None = None) -> int:
    return env.unwrapped.encode_action(envs.GrowthAction(envs.ActionKind(kind), slot, blueprint))


def same(a, b) -> bool:
    """Deep equality of step results: arrays exactly, dicts and sequences item by item."""
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
