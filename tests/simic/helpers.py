"""What the simic tests share besides fixtures (those live in the conftest of their folder):
the tiny training settings, folder snapshots, and starting a ``simic`` command as a child
process without ever leaving it behind. Test modules import from here, never from each other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

SMALL = [
    "--env-kwargs",
    "budget=6",
    "batches_per_step=1",
    "--n-steps",
    "32",
    "--batch-size",
    "32",
    "--n-epochs",
    "2",
    "--no-progress",
]
"""``simic train`` options for a run that takes seconds (append them to the command)."""
TINY_RUN_KWARGS = {"budget": 6, "batches_per_step": 1}
"""The env keyword arguments of :data:`SMALL` (what the ``tiny_run`` fixture trained on)."""


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes), to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


EXIT_TIMEOUT_S = 300
"""How long a signalled command may take to save and exit: generous, since on a machine busy
with other work saving a checkpoint once took over 60 s."""


@contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """Children started in the block get SIGINT at its default, even if this process ignores it.

    A suite run as a background job (``make test &`` in a script) ignores SIGINT, and an ignored
    signal is inherited across exec: the child would train through the test's Ctrl-C. A handled
    one is reset to the default instead, so the handler is swapped in for the start only (not
    with ``preexec_fn``, which is unsafe in a process with threads, as pytest-xdist workers are).
    """
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if not ignored or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def running(cmd: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``Popen(cmd)`` (text, stdout piped, stderr into it unless ``popen`` says otherwise),
    killed on the way out if it still runs: a failed assertion or a timeout must not leave a
    100,000-step training running beside the rest of the suite."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, **popen}
    with _sigint_not_ignored():
        proc = subprocess.Popen(cmd, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@contextmanager
def running_group(cmd: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """:func:`running` in a process group of its own, as a job scheduler starts a job: signal
    it with ``os.killpg(proc.pid, ...)``. The whole group is killed on the way out."""
    with running(cmd, start_new_session=True, **popen) as proc:
        try:
            yield proc
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
