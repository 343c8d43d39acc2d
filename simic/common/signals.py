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


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def stops_blocked() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM pending (on this thread) for the duration of the block.

    A signal mask is inherited through fork and exec, so a process started inside the block (a
    pool worker, the forkserver) starts deaf to a group signal until it sets up its own
    handling, while this process receives what arrived once the block ends.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stops() -> None:
    """Ignore Ctrl-C and SIGTERM from now on: the parent of this worker alone decides."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StopRequests:
    """Ctrl-C and SIGTERM, recorded by :func:`deferred_stops` and raised at a safe point."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def record(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def raise_if_stopped(self) -> None:
        """Raise ``KeyboardInterrupt`` (Ctrl-C) or :class:`Terminated` (SIGTERM), if one came."""
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum == signal.SIGTERM:
            raise Terminated("received signal SIGTERM")


@contextlib.contextmanager
def deferred_stops() -> Iterator[StopRequests]:
    """Record Ctrl-C and SIGTERM instead of raising them wherever the main thread happens to be.

    A signal raised inside ``concurrent.futures`` or ``threading`` code can leave one of their
    locks held, and the process then hangs at its next wait or at exit. Code that waits on such
    machinery polls :meth:`StopRequests.raise_if_stopped` between waits instead. A signal this
    process ignores (SIGINT in a background job) stays ignored.
    """
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():
        yield requests
        return
    previous = {
        signum: signal.signal(signum, requests.record)
        for signum in STOP_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield requests
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
