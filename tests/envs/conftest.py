"""Fixtures of the environment tests (settings and builders are in :mod:`tests.envs.helpers`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import envs
from tests.envs.helpers import fast_env


@pytest.fixture
def make_fast_env() -> Iterator[Callable[..., envs.GrowthEnv]]:
    """:func:`~tests.envs.helpers.fast_env` as a factory whose envs are closed after the test."""
    made: list[envs.GrowthEnv] = []

    def make(task: str = "mnist1d", **kwargs: Any) -> envs.GrowthEnv:
        made.append(fast_env(task, **kwargs))
        return made[-1]

    yield make
    for env in made:
        env.close()
