"""SIGTERM handled like Ctrl-C: ``timeout``, docker, SLURM and Ray stop a process with SIGTERM.

Inside :func:`sigterm_interrupts`, SIGTERM raises :class:`Terminated`, a ``KeyboardInterrupt``,
so the code that already saves its work on Ctrl-C does the same on SIGTERM. The exit status
follows the shell's convention, 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

INTERRUPTED = 128 + signal.SIGINT  # 130
TERMINATED = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def exit_status(interrupt: BaseException) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return TERMINATED if isinstance(interrupt, Terminated) else INTERRUPTED


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM (a scheduler's repeat, a group signal seen twice) must not break
    # the checkpoint the first one is saving. SIGKILL still stops the process.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(f"received signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the duration of the block.

    Signal handlers can only be installed from the main thread; elsewhere (a Ray actor's or a
    test runner's worker thread) the block runs with the handler it had.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
