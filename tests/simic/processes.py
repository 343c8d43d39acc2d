"""Starting a ``simic`` command as a child process in a test, and never leaving it behind."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXIT_TIMEOUT_S = 300
"""How long a signalled command may take to save and exit: generous, since on a machine busy
with other work saving a checkpoint once took over 60 s."""


def _terminal_signals() -> None:
    # A suite started as a background job (`make test &` in a script) ignores SIGINT, and a
    # child inherits that: it would train through the test's Ctrl-C. Reset it to the default,
    # so the command handles SIGINT as it does in a terminal (Python then raises
    # KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running(cmd: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``Popen(cmd)`` (text, stdout piped, stderr into it unless ``popen`` says otherwise),
    killed on the way out if it still runs: a failed assertion or a timeout must not leave a
    100,000-step training running beside the rest of the suite."""
    popen = {
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "text": True,
        "preexec_fn": _terminal_signals,
        **popen,
    }
    proc = subprocess.Popen(cmd, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
