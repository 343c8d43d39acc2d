"""Many commands, each in its own process, run in parallel: the benchmarks' one job runner.

A :class:`Job` is a command with a test of whether it is already done (so a rerun skips it: an
interrupted benchmark resumes), the job it waits for, the cores it holds and where its wall time
adds up over sessions. :class:`Runner` starts jobs in the order submitted on ``parallel``
cores. A job that fails is reported and the jobs that wait for it are not run; every other job
still runs to its end. Ctrl-C or SIGTERM (inside :func:`simic.common.signals.sigterm_interrupts`)
stops every job, keeping what finished.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.procs import ROOT, Process, child_env
from envs.atomic import atomic_write_text


class JobFailedError(RuntimeError):
    """Jobs exited with an error (their logs name why); ``failures`` says which, one line each."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = failures


@dataclass
class Job:
    """One command to run, what it waits for and what it holds.

    Attributes:
        name: Unique; its log is ``<logs>/<name>.log`` (appended to over sessions).
        argv: The command.
        done: Whether it already ran (checked when its turn comes: then it is skipped).
        after: The name of a job queued before it that must finish first.
        cores: The cores it holds while it runs (a training with 2 env processes holds 2).
        wall_file: Where its wall time is added up over sessions (:func:`add_wall`).
        finish: Called once it exited 0 (e.g. to keep its result).
    """

    name: str
    argv: list[str]
    done: Callable[[], bool]
    after: str | None = None
    cores: int = 1
    wall_file: Path | None = None
    finish: Callable[[], None] = lambda: None


class _Skipped(Exception):  # noqa: N818 (not an error: a job whose dependency failed)
    pass


class Runner:
    """Runs jobs in the order given on ``parallel`` cores, each after the job it waits for.

    A job holds ``job.cores`` cores while it runs, so timings are not skewed by jobs fighting
    over cores; jobs start in the order submitted. Logs go to ``logs``; commands run in ``cwd``
    with :func:`benchmarks.common.procs.child_env` (this tree's packages).
    """

    def __init__(self, parallel: int, logs: Path, cwd: Path = ROOT) -> None:
        self.pool = ThreadPoolExecutor(max_workers=parallel)
        self.parallel, self.logs, self.cwd = parallel, logs, cwd
        self.free_cores = parallel
        self.turn = 0
        self.changed = threading.Condition()
        self.futures: dict[str, Future[bool]] = {}
        self.live: set[Process] = set()
        self.stopping = threading.Event()

    def log(self, job: Job) -> Path:
        return self.logs / f"{job.name}.log"

    def submit(self, job: Job) -> None:
        """Queue ``job``; it may wait only for a job queued before it (no deadlock)."""
        if job.after is not None and job.after not in self.futures:
            raise ValueError(f"{job.name} waits for {job.after!r}, which is not queued before it")
        if job.name in self.futures:
            raise ValueError(f"two jobs are named {job.name!r}")
        self.futures[job.name] = self.pool.submit(self._run, job, len(self.futures))

    def _run(self, job: Job, turn: int) -> bool:
        """Whether the job ran; raises :class:`JobFailedError` if it failed."""
        ready = False
        try:
            if job.after is not None and not _succeeded(self.futures[job.after]):
                raise _Skipped(f"{job.name} not run: {job.after} failed")
            ready = not job.done()
        finally:
            if not ready:
                self._take_turn(turn, cores=0)  # pass the turn on
        cores = min(job.cores, self.parallel)
        if not ready or not self._take_turn(turn, cores):
            return False
        try:
            return self._spawn(job)
        finally:
            with self.changed:
                self.free_cores += cores
                self.changed.notify_all()

    def _take_turn(self, turn: int, cores: int) -> bool:
        """Wait for this job's turn and its cores; False when stopping."""
        with self.changed:
            self.changed.wait_for(
                lambda: self.stopping.is_set() or (self.turn == turn and self.free_cores >= cores)
            )
            if self.stopping.is_set():
                return False
            self.free_cores -= cores
            self.turn += 1
            self.changed.notify_all()
            return True

    def _spawn(self, job: Job) -> bool:
        with self.changed:  # under the lock that stop() holds: no process escapes it
            if self.stopping.is_set():
                return False
            process = Process(job.argv, self.log(job), cwd=self.cwd, env=child_env(), append=True)
            self.live.add(process)
        status = process.wait()
        with self.changed:
            self.live.discard(process)
        seconds = time.perf_counter() - process.started
        if job.wall_file is not None:
            add_wall(job.wall_file, seconds)
        if status != 0:
            raise JobFailedError([f"{job.name} exited with status {status}; see {self.log(job)}"])
        job.finish()
        print(f"{job.name}: done in {seconds:.0f} s", flush=True)
        return True

    def wait(self) -> list[str]:
        """Wait for every job; the names of those that ran.

        Raises :class:`JobFailedError` naming every failed job (and those left waiting for one)
        once the others ended. On Ctrl-C or SIGTERM every job is stopped (keeping results).
        """
        failures: list[str] = []
        try:
            for future in list(self.futures.values()):
                try:
                    future.result()
                except (JobFailedError, _Skipped) as exc:
                    failures += exc.failures if isinstance(exc, JobFailedError) else [str(exc)]
        except BaseException:
            self.stop()
            raise
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if failures:
            raise JobFailedError(failures)
        return [name for name, future in self.futures.items() if future.result()]

    def stop(self) -> None:
        """Stop every job: none starts any more, and each running one's process group gets
        SIGTERM, as a scheduler sends it (simic saves a checkpoint or its partial results, and
        exits 143; the chaos benchmark checks this)."""
        with self.changed:
            self.stopping.set()
            self.changed.notify_all()
            for process in self.live:
                process.signal(signal.SIGTERM)


def _succeeded(future: Future[bool]) -> bool:
    try:
        future.result()
    except (JobFailedError, _Skipped):
        return False
    return True


def add_wall(path: Path, seconds: float) -> None:
    """Add ``seconds`` to the wall time kept in ``path`` (a job's time over sessions)."""
    total = read_wall(path) or 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"wall_s": total + seconds}) + "\n")


def read_wall(path: Path) -> float | None:
    """The wall time kept in ``path``; ``None`` if there is none."""
    return json.loads(path.read_text())["wall_s"] if path.is_file() else None
