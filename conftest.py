"""Settings for every test session (tests/ and the doctests under envs/, see pyproject testpaths).

torch runs on one intra-op thread, as each environment does while it works: numbers then do not
depend on the machine's core count (a reduction split over more threads can change its last
bits), and a test run does not fight a neighbour's processes for the cores.
"""

import re
import sys

import pytest
import torch

# What Ray starts (not any process whose path merely contains "ray", such as a venv's python).
RAY_PROCESS = re.compile(
    r"^ray::|/raylet |/gcs_server |ray/_private/|ray/dashboard/|ray/autoscaler/"
)

# At import, not in a fixture: collection already runs torch code (module-level models, doctest
# collection), and a conftest at the rootdir is imported before any of it.
torch.set_num_threads(1)


def _ray_children() -> list[str]:
    """Command lines of this process's children that are Ray's (raylet, gcs_server, workers)."""
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may leave a Ray running: every command and fixture stops the Ray it started."""
    problem = None
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        problem = "a test left Ray initialised (a fixture or command did not stop it)"
    elif sys.platform == "linux" and (left := _ray_children()):
        problem = f"Ray processes outlived the tests: {left}"
    if problem is not None:
        print(f"\nconftest: {problem}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
