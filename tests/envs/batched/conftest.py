"""Fixtures of the batched-env tests: small batched envs of cheap episodes."""

from __future__ import annotations

import pytest

import envs
from tests.envs.helpers import FAST


@pytest.fixture
def batched() -> envs.BatchedGrowthEnv:
    """Three envs of the default task, budget 2 (an autoreset within three steps)."""
    env = envs.BatchedGrowthEnv(3, **{**FAST, "budget": 2})
    yield env
    env.close()
