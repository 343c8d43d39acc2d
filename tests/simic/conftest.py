"""Fixtures shared by the simic tests (plain helpers are in :mod:`tests.simic.helpers`).

``tiny_run`` is the one trained run: a ``simic train`` of 32 timesteps, made once per test
process (pytest-xdist worker) and read-only to its users; a test that changes a run copies it.
``local_ray`` is the one local Ray: started for a test module that asks for it and stopped at its
end, not kept for the session, because a Ray left running in a worker would change what the
next module's commands do (they reuse an initialised Ray instead of starting their own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from simic.cli import main
from tests.simic.helpers import SMALL

SLOW_FIXTURES = frozenset({"local_ray", "acceptance_evaluation", "stopped_then_resumed"})
"""Fixtures that take seconds to build: a test that uses one is marked ``slow``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Conftest hooks see every collected item, so the check is by fixture, not by folder.
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ``simic train`` run folder (sb3, 32 timesteps, :data:`SMALL` settings)."""
    run = tmp_path_factory.mktemp("tiny_run") / "RUN"
    argv = ["train", "--out", str(run), "--timesteps", "32", "--eval-every", "0", *SMALL]
    assert main(argv) == 0
    return run


@pytest.fixture(scope="module")
def local_ray() -> Iterator[ModuleType]:
    """A local Ray with 2 CPUs for the module; simic's commands reuse it (and leave it up)."""
    ray = pytest.importorskip(
        "ray", reason="needs the [ray] extra: pip install 'simic-growth[ray]'"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()
