"""Starting subprocesses, the one way every benchmark does: ``python -m simic ...`` and ``git``.

A command runs as a user or a scheduler runs it: in a session of its own (so its whole process
group can be signalled, as a terminal, ``timeout`` or SLURM do), with the tree under test first
on its path, a local Ray and unbuffered output (a log can be read while the command runs), its
output going to files. :func:`run` runs a command to the end and returns what it printed;
:class:`JsonWorker` keeps a worker process to ask questions of, one JSON line each.

The process table (:func:`process_table`, :func:`descendants`) is how a benchmark sees what a
command started, and whether any of it outlived the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""This checkout: the tree a command tests unless told another."""


def simic_argv(*args: str, python: str = sys.executable) -> list[str]:
    """``python -m simic ARGS``."""
    return [python, "-m", "simic", *args]


def child_env(tree: Path = ROOT, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a command that tests ``tree``.

    ``tree``'s packages come first (its path replaces ``PYTHONPATH``, so they win over the
    installed, editable ones), Ray starts locally (no ``RAY_ADDRESS``) and output is unbuffered.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(tree), PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


class Process:
    """A command started in a session of its own, its output going to ``out`` (and ``err``;
    without ``err`` both streams go to ``out``). ``append`` keeps what ``out`` already holds
    (a log over resumed sessions); ``header`` is written to ``out`` first."""

    def __init__(
        self,
        argv: Sequence[str],
        out: Path,
        *,
        err: Path | None = None,
        cwd: Path = ROOT,
        env: Mapping[str, str] | None = None,
        append: bool = False,
        header: str = "",
    ) -> None:
        self.argv, self.out, self.err = list(argv), out, err
        out.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        with contextlib.ExitStack() as files:
            stdout = files.enter_context(out.open("ab" if append else "wb"))
            if header:
                stdout.write(header.encode())
                stdout.flush()
            stderr = subprocess.STDOUT if err is None else files.enter_context(err.open("wb"))
            self.popen = subprocess.Popen(
                self.argv,
                stdout=stdout,
                stderr=stderr,
                cwd=cwd,
                env=dict(child_env() if env is None else env),
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status; raises :class:`subprocess.TimeoutExpired` past ``timeout``."""
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def errors(self) -> str:
        return "" if self.err is None else self.err.read_text(errors="replace")

    def signal(self, sig: int, *, group: bool = True) -> None:
        """Send ``sig`` to its process group (what a terminal, ``timeout`` or SLURM do), or to
        the process alone (what ``kill PID`` does); nothing if they are gone."""
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(self.pid, sig)

    def kill(self) -> int:
        """SIGKILL to the whole group, then its exit status."""
        self.signal(signal.SIGKILL)
        return self.popen.wait()


@dataclass(frozen=True)
class Completed:
    """A command run to the end by :func:`run`."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Completed:
    """Run ``argv`` to the end (environment :func:`child_env` unless given), capturing output."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(child_env() if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Completed(
        list(argv), done.returncode, done.stdout, done.stderr, time.perf_counter() - started
    )


class JsonWorker:
    """A long-lived worker (``argv``) that answers one JSON request per stdin line.

    The worker prints its answer as ``mark`` + JSON on one stdout line; lines without the mark
    (stray prints) are skipped. Used where a measurement must run another tree's code in a
    process of its own and return numbers, many times over (``step_cost --compare-ref``).
    """

    def __init__(
        self, argv: Sequence[str], mark: str, *, cwd: Path, env: Mapping[str, str]
    ) -> None:
        self.mark = mark
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def ask(self, request: Mapping[str, object]) -> object:
        """Send ``request``; the worker's answer (a RuntimeError if it died instead)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(self.mark):
                return json.loads(line[len(self.mark) :])
        raise RuntimeError(f"worker {self.proc.args} died (exit {self.proc.wait()})")

    def close(self, timeout: float = 30) -> None:
        """Close its stdin (the worker's cue to exit) and wait for it."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=timeout)


def git(tree: Path, *args: str) -> str:
    """``git -C tree ARGS``'s output, stripped; empty if git failed."""
    done = run(["git", "-C", str(tree), *args], env=os.environ)
    return done.stdout.strip() if done.returncode == 0 else ""


# ------------------------------------------------------------------------------ process table
@dataclass(frozen=True)
class Proc:
    """One process as Linux's /proc shows it; ``pid`` and ``start`` together name it (pids are
    reused)."""

    pid: int
    ppid: int
    session: int
    start: int
    state: str
    title: str


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    title = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]), fields[0], title)


def process_table() -> list[Proc]:
    found = (read_proc(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [proc for proc in found if proc is not None]


def descendants(root: int, table: list[Proc] | None = None) -> list[Proc]:
    """Every process below ``root`` (children, their children, ...) in ``table`` (default: now)."""
    children: dict[int, list[Proc]] = defaultdict(list)
    for proc in process_table() if table is None else table:
        children[proc.ppid].append(proc)
    found, stack = [], [root]
    while stack:
        for child in children[stack.pop()]:
            found.append(child)
            stack.append(child.pid)
    return found


def is_running(proc: Proc) -> bool:
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state != "Z"
