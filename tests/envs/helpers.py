"""Shared settings for environment tests: short, cheap episodes."""

from __future__ import annotations

import gymnasium as gym

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
