"""Settings for every test session (tests/ and the doctests under envs/, see pyproject testpaths).

torch runs on one intra-op thread, as each environment does while it works: numbers then do not
depend on the machine's core count (a reduction split over more threads can change its last
bits), and a test run does not fight a neighbour's processes for the cores.
"""

import re
import sys
import time
from collections.abc import Iterator

import pytest
import torch

# What Ray starts (not any process whose path merely contains "ray", such as a venv's python).
RAY_PROCESS = re.compile(
    r"^ray::|/raylet |/gcs_server |ray/_private/|ray/dashboard/|ray/autoscaler/"
)

# At import, not in a fixture: collection already runs torch code (module-level models, doctest
# collection), and a conftest at the rootdir is imported before any of it.
torch.set_num_threads(1)


def _ray_children(grace_s: float = 0.0) -> list[str]:
    """Command lines of this process's children that are Ray's (raylet, gcs_server, workers),
    after waiting up to ``grace_s`` seconds for them to finish exiting."""
    deadline = time.monotonic() + grace_s
    while (found := _ray_children_now()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _ray_children_now() -> list[str]:
    import os
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and RAY_PROCESS.search(cmdline):
            found.append(cmdline.strip()[:120])
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_ray_outlives_the_tests() -> Iterator[None]:
    """No test may leave a Ray running: every command and fixture stops the Ray it started.

    Checked when the session's fixtures are torn down (after every module's), and failed as a
    teardown error: under pytest-xdist that is reported from each worker, where an exit status
    set in ``pytest_sessionfinish`` would be lost.
    """
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        pytest.fail("a test left Ray initialised (a fixture or command did not stop it)")
    if sys.platform == "linux" and (left := _ray_children(grace_s=5.0)):
        pytest.fail(f"Ray processes outlived the tests: {left}")
