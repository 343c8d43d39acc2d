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


# ---------------------------------------------------------------------------- batched envs
BATCHED_RTOL = 1e-4
"""Relative tolerance of batched vs single-env numbers (observations, rewards, infos).

Grouped convolutions, the batched head and the summed loss add the same products in another
order: ~1e-7 relative per training batch, amplified by Adam over an episode to ~1e-6 (the
prototype measured 8e-7 in parameters after 24 Adam steps; these short episodes stay near
1e-6). Rewards and accuracies are differences of counts over 1000 validation samples, so they
agree exactly unless a logit tie flips; 1e-4 leaves two orders of margin above rounding and
stays far below one validation sample (1e-3)."""
BATCHED_ATOL = 1e-5
"""Absolute floor for values near zero (deltas, contributions)."""

DISCRETE_INFO = ("step", "action", "invalid_action", "stage_changes", "diverged", "oom", "params")


def intent(env, kind: str, slot: str | None = None, blueprint: str | None = None) -> int:
    """The action index of an intent (played whether valid or not: a masked one is penalised)."""
    return act(env, kind, slot, blueprint)


def assert_step_agrees(batched_info: dict, single_info: dict) -> None:
    """Discrete info keys equal; float ones within the batched tolerance."""
    for key in DISCRETE_INFO + tuple(k for k in single_info if k.startswith("seeds_")):
        assert batched_info[key] == single_info[key], key
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy"):
        if key in single_info:
            np.testing.assert_allclose(
                batched_info[key], single_info[key], rtol=BATCHED_RTOL, atol=BATCHED_ATOL
            )
