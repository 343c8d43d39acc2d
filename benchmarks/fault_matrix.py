"""The fault matrix: what ``simic`` does when a user makes a mistake or a run is disturbed.

Each case runs what a user runs (``python -m simic ...``, or a few lines of Python for API
cases such as pickling) in a subprocess, in a scratch folder of its own, with a timeout, and
classifies the outcome as one verdict:

* ``OK``: a user's mistake got one clear line (``simic: error: ...``) and exit status 2, or the
  behaviour was correct;
* ``TRACEBACK``: a user's mistake ended in a Python traceback, a multi-line error, a line that
  misleads or lacks what the case needs (a did-you-mean), or a refusal that left files behind
  (issue 17's "tracebacks or weak messages");
* ``LOSS``: work or data was lost, or two runs were mixed;
* ``WRONG``: a silently wrong result;
* ``HANG``: not finished within the case's timeout (its whole process group is killed);
* ``ERROR``: the harness could not measure the case (a setup step failed); never a verdict on
  the product.

Cases ``i17-NN`` reproduce the numbered cases of issue 17; cases ``f-...`` are the finer ones
that issues 7 and 17 name. ``--tree PATH`` measures any checkout: every subprocess runs with
``PYTHONPATH=PATH`` and its working directory in the case's scratch folder, so the same script
measures an old commit (a ``git worktree`` of it). Cases run one at a time and stay small (tiny
budgets and rollouts), since the machine is shared. Results go to
``benchmarks/results/fault_matrix.json`` (written atomically after every case, so an interrupted
matrix keeps what it measured); ``--before FILE`` also writes a markdown table comparing an
earlier results file with this one::

    git worktree add --detach ../wt-before 898e6b8        # the commit to compare with
    python -m benchmarks.fault_matrix --tree ../wt-before --out before.json
    python -m benchmarks.fault_matrix --before before.json  # this tree, then the table
    python -m benchmarks.fault_matrix --only i17-14 f-policy-name --skip-slow
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import procs
from benchmarks.common.procs import Process, child_env
from benchmarks.common.runs import TINY_SWEEP, checkpoint_timesteps, strict_json
from envs.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUT = RESULTS / "fault_matrix.json"
DEFAULT_MARKDOWN = RESULTS / "fault_matrix.md"
PYTHON = sys.executable

OK, TRACEBACK, LOSS, WRONG, HANG, ERROR = "OK", "TRACEBACK", "LOSS", "WRONG", "HANG", "ERROR"
VERDICTS = (OK, TRACEBACK, LOSS, WRONG, HANG, ERROR)
MARK = "SIMIC_FAULT_MATRIX_CASE"
"""Environment variable every process of a case inherits: how strays are found (and only ours)."""
DETAIL_CHARS = 300

# Commands are written as a user types them; {name} is filled in per word (a path may hold
# spaces). Everything is tiny: 3- or 4-step episodes of one batch, 32-step PPO rollouts.
SMALL_ENV = "--env-kwargs budget=4 batches_per_step=1"
SMALL_TRAIN = f"{SMALL_ENV} --n-steps 32 --batch-size 32 --n-epochs 1 --no-progress --eval-every 0"
SMALL_RLLIB = f"{SMALL_ENV} --n-steps 64 --batch-size 32 --n-epochs 1 --no-progress --eval-every 0"
"""RLlib's smallest sensible iteration: 64 steps (16 four-step episodes), two minibatches."""
EVAL_ENV = "--env-kwargs budget=3 batches_per_step=1"
SMALL_EVAL = f"--episodes 1 {EVAL_ENV}"
LONG_TRAIN = f"--timesteps 100000 {SMALL_TRAIN}"
"""A training that runs until the case stops it."""


def command(*parts: str, **values: str | Path) -> list[str]:
    """``parts`` joined and split like a shell line, then each word's ``{name}`` filled in."""
    return [word.format(**values) for word in shlex.split(" ".join(parts))]


def simic_argv(*parts: str, **values: str | Path) -> list[str]:
    return procs.simic_argv(*command(*parts, **values), python=PYTHON)


# ----------------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """A case's outcome: one of :data:`VERDICTS` and one line saying what was seen."""

    verdict: str
    detail: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        one_line = " ".join(self.detail.split())
        if len(one_line) > DETAIL_CHARS:
            one_line = one_line[: DETAIL_CHARS - 1] + "…"
        object.__setattr__(self, "detail", one_line)


class Finding(Exception):  # noqa: N818 (not an error: how a case ends)
    """Raised inside a case to end it with ``verdict`` (a hang, a failed setup step, ...)."""

    def __init__(self, verdict: str, detail: str) -> None:
        super().__init__(detail)
        self.verdict = Verdict(verdict, detail)


@dataclass(frozen=True)
class Done:
    """A finished command: exit status, what it printed, how long it took."""

    label: str
    returncode: int
    stdout: str
    stderr: str
    wall_s: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.output


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def summary(done: Done) -> str:
    """The line that says most about how ``done`` ended (a traceback's exception line)."""
    if done.traceback:
        tail = done.output.split("Traceback (most recent call last)")[-1]
        errors = [line for line in tail.splitlines() if re.match(r"^[\w.]+(Error|Exception)", line)]
        return f"traceback, {errors[-1] if errors else last_line(tail)}"
    return last_line(done.stderr) if done.stderr.strip() else last_line(done.stdout)


def refused(done: Done, *needles: str) -> Verdict:
    """OK if the command refused in one ``simic: error:`` line naming every needle, status 2."""
    lines = done.error_lines
    if done.traceback:
        return Verdict(TRACEBACK, f"exit {done.returncode}: {summary(done)}")
    if done.returncode == 0:
        return Verdict(WRONG, f"accepted (exit 0): {last_line(done.stdout)}")
    if done.returncode != 2 or len(lines) != 1 or not lines[0].startswith("simic: error: "):
        first = lines[0] if lines else last_line(done.stdout)
        return Verdict(TRACEBACK, f"exit {done.returncode}, {len(lines)} lines on stderr: {first}")
    missing = [n for n in needles if n.lower() not in lines[0].lower()]
    if missing:
        return Verdict(TRACEBACK, f"weak message (no {', '.join(map(repr, missing))}): {lines[0]}")
    return Verdict(OK, lines[0])


def refused_cleanly(done: Done, left: Path, *needles: str) -> Verdict:
    """:func:`refused`, and the refusal wrote nothing: ``left`` does not exist afterwards."""
    verdict = refused(done, *needles)
    if verdict.verdict == OK and left.exists():
        return Verdict(TRACEBACK, f"refused, but left {left.name}/ behind: {verdict.detail}")
    return verdict


def expect_success(done: Done, what: str, failure: str = WRONG) -> Done:
    """``done`` if it exited 0; else end the case (TRACEBACK for a traceback, else ``failure``)."""
    if done.returncode == 0:
        return done
    verdict = TRACEBACK if done.traceback else failure
    raise Finding(verdict, f"{what} failed (exit {done.returncode}): {summary(done)}")


# ----------------------------------------------------------------------------------- processes
class Running:
    """A command started in its own session (so its whole process group can be signalled)."""

    def __init__(self, label: str, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.label = label
        self.process = Process(
            argv, cwd / f".{label}.out", err=cwd / f".{label}.err", cwd=cwd, env=env
        )

    def stdout(self) -> str:
        return self.process.output()

    def alive(self) -> bool:
        return self.process.alive()

    def signal(self, sig: int, *, group: bool = True) -> None:
        """Send ``sig`` to the process group (what a terminal, ``timeout`` or SLURM do) or
        to the process alone (what ``kill PID`` does)."""
        if self.alive():
            self.process.signal(sig, group=group)

    def kill(self) -> None:
        self.process.kill()

    def wait(self, timeout: float) -> Done:
        """The finished command; past ``timeout``, the group is killed and the case ends: HANG."""
        try:
            self.process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            self.kill()
            last = last_line(self.stdout())
            raise Finding(
                HANG, f"{self.label} still running after {timeout:.0f} s: {last}"
            ) from None
        self.process.signal(signal.SIGKILL)  # children left (a killed trainer's envs)
        return Done(
            self.label,
            self.process.wait(),
            self.stdout(),
            self.process.errors(),
            time.perf_counter() - self.process.started,
        )


class Workspace:
    """Where one case runs: its scratch folder, the tree it measures, its processes."""

    def __init__(self, tree: Path, folder: Path, timeout_s: float, shared: Shared) -> None:
        self.tree, self.folder, self.shared = tree, folder, shared
        self.deadline = time.monotonic() + timeout_s
        self.mark = f"{folder.name}.{os.getpid()}.{time.time_ns()}"
        self._started: list[Running] = []

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # The tree's packages win over the installed (editable) ones; output is unbuffered so
        # a background command's progress can be read while it runs.
        return child_env(self.tree, {MARK: self.mark, **(extra or {})})

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Running:
        """Start ``argv`` in the background (stop it with its methods, or the case stops it)."""
        what = argv[3] if list(argv[1:3]) == ["-m", "simic"] and len(argv) > 3 else "python"
        running = Running(f"{len(self._started) + 1}-{what}", argv, self.folder, self.env(env))
        self._started.append(running)
        return running

    def run(
        self, argv: Sequence[str], timeout: float | None, env: Mapping[str, str] | None = None
    ) -> Done:
        """Run ``argv`` to the end (at most ``timeout`` s, and never past the case's deadline)."""
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        return self.start(argv, env).wait(limit)

    def simic(
        self,
        *parts: str,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        **values: str | Path,
    ) -> Done:
        """``python -m simic <parts>`` (see :func:`command`) run to the end."""
        return self.run(simic_argv(*parts, **values), timeout, env)

    def python(self, code: str, *args: str | Path) -> Done:
        return self.run([PYTHON, "-c", code, *map(str, args)], None)

    def wait_for(
        self, running: Running, ready: Callable[[], bool], what: str, timeout: float
    ) -> None:
        """Poll until ``ready()``; a command that ended first or never got there ends the case."""
        deadline = time.monotonic() + min(timeout, self.remaining())
        while not ready():
            if not running.alive():
                done = running.wait(1)
                raise Finding(
                    TRACEBACK if done.traceback else ERROR,
                    f"{running.label} ended (exit {done.returncode}) before {what}: "
                    f"{summary(done)}",
                )
            if time.monotonic() > deadline:
                running.kill()
                raise Finding(HANG, f"no {what} after {timeout:.0f} s")
            time.sleep(0.1)

    def stop_strays(self, grace_s: float = 5.0) -> int:
        """Kill what this case left running (by pid, found by its mark); how many there were."""
        for running in self._started:
            if running.alive():
                running.kill()
        deadline = time.monotonic() + grace_s
        while (strays := marked_pids(self.mark)) and time.monotonic() < deadline:
            time.sleep(0.2)  # a Ray worker may take a moment to notice its driver is gone
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(strays)


def marked_pids(mark: str) -> list[int]:
    """Processes whose environment carries ``mark`` (children inherit it, Ray's included)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def closed_address() -> str:
    """A local address nothing listens on (a port bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# ----------------------------------------------------------------------------------- files
def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> content hash)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def event_bytes(folder: Path) -> int:
    """How many bytes of TensorBoard events ``folder`` holds."""
    return sum(p.stat().st_size for p in folder.rglob("events.out.tfevents*"))


def same_files(a: Path, b: Path, names: Sequence[str]) -> list[str]:
    """The names of ``names`` whose bytes differ between folders ``a`` and ``b``."""
    return [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]


def python_result(done: Done) -> dict[str, Any]:
    """The ``RESULT {...}`` line a snippet printed; a snippet that crashed ends the case."""
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise Finding(TRACEBACK if done.traceback else ERROR, f"the snippet failed: {summary(done)}")


# ----------------------------------------------------------------------------------- runs
class Shared:
    """What several cases read and never change, made once per matrix run: a trained model."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._model: Path | None = None

    def model(self, ws: Workspace) -> Path:
        """``model.zip`` of a 32-step MNIST-1D run (trained by the first case that asks)."""
        if self._model is None:
            run = self.folder / "RUN"
            if run.exists():
                shutil.rmtree(run)
            self._model = trained_run(ws, run) / "model.zip"
        return self._model


def trained_run(ws: Workspace, run: Path | str = "RUN") -> Path:
    """A finished 32-step training run in ``run`` (relative to the case's folder)."""
    folder = ws.path(run) if isinstance(run, str) else run
    done = ws.simic("train --out {run} --timesteps 32", SMALL_TRAIN, run=folder)
    if done.returncode != 0 or not (folder / "model.zip").is_file():
        raise Finding(ERROR, f"setup: training {folder.name} failed: {summary(done)}")
    return folder


def stopped_at(output: str, word: str) -> int | None:
    """The timestep count of '<word> at N timesteps; checkpoint saved' in ``output``."""
    found = re.search(rf"{word} at (\d+) timesteps; checkpoint saved", output)
    return int(found.group(1)) if found else None


def resumed(ws: Workspace, run: Path, target: int) -> Verdict | None:
    """None if ``--resume run --timesteps target`` gets there; else what went wrong."""
    done = ws.simic(f"train --resume {{run}} --timesteps {target} --no-progress", run=run)
    if done.returncode != 0:
        return Verdict(LOSS, f"--resume failed (exit {done.returncode}): {summary(done)}")
    final = checkpoint_timesteps(run / "model.zip")
    if final is None or final < target:
        return Verdict(WRONG, f"--resume to {target} left a model at {final} timesteps")
    return None


# ----------------------------------------------------------------------------------- registry
Check = Callable[[Workspace], Verdict]


@dataclass(frozen=True)
class Case:
    """One row of the matrix: what a user does (``check``) and how long it may take."""

    id: str
    title: str
    source: str
    check: Check
    timeout_s: float
    slow: bool


CASES: dict[str, Case] = {}


def case(
    case_id: str, title: str, source: str, *, timeout_s: float = 90.0, slow: bool = False
) -> Callable[[Check], Check]:
    """Register ``check`` as the case ``case_id`` (in the order the cases are defined)."""

    def register(check: Check) -> Check:
        if case_id in CASES:
            raise ValueError(f"case {case_id} is defined twice")
        CASES[case_id] = Case(case_id, title, source, check, timeout_s, slow)
        return check

    return register


def refusal_case(case_id: str, title: str, source: str, line: str, *needles: str) -> None:
    """A case whose command ``simic <line>`` must be refused in one line naming ``needles``.

    ``{out}`` in ``line`` is a folder that must not exist afterwards (nothing was written).
    """

    def check(ws: Workspace) -> Verdict:
        return refused_cleanly(ws.simic(line, out=ws.path("OUT")), ws.path("OUT"), *needles)

    case(case_id, title, source)(check)


def config_file_case(case_id: str, title: str, content: bytes, needle: str) -> None:
    """``simic train --config FILE`` with a bad file: one line, nothing written."""

    def check(ws: Workspace) -> Verdict:
        ws.path("run.yaml").write_bytes(content)
        done = ws.simic("train --config run.yaml --out {out}", SMALL_TRAIN, out=ws.path("OUT"))
        return refused_cleanly(done, ws.path("OUT"), needle)

    case(case_id, title, "issue 7 #8")(check)


# ----------------------------------------------------------------------------------- issue 17
@case("i17-01", "--resume of a copied, then moved run: its own tb/", "issue 17 #1", timeout_s=240)
def resume_copy_logs_its_own_tensorboard(ws: Workspace) -> Verdict:
    original = trained_run(ws, "original")
    before = snapshot(original)
    copy = Path(shutil.copytree(original, ws.path("copy")))
    events = event_bytes(copy)
    resume = ws.simic("train --resume {run} --timesteps 64 --no-progress", run=copy)
    expect_success(resume, "--resume of the copy")
    if hurt := changed(before, snapshot(original)):
        return Verdict(LOSS, f"resuming the copy wrote into the original: {', '.join(hurt[:3])}")
    if event_bytes(copy) <= events:
        return Verdict(LOSS, "the copy's tb/ got no new events: they went to another folder")
    moved = Path(shutil.move(copy, ws.path("moved")))
    resume = ws.simic("train --resume {run} --timesteps 96 --no-progress", run=moved)
    expect_success(resume, "--resume of the moved run")
    if copy.exists():
        return Verdict(LOSS, f"resuming the moved run recreated its old folder: {snapshot(copy)}")
    return Verdict(OK, "copy and moved run logged into their own tb/; the original untouched")


def written(path: Path) -> int | None:
    """Which write of ``path`` is there now: files are replaced atomically, each by a new inode."""
    return path.stat().st_ino if path.exists() else None


def rewritten(path: Path, since: int | None) -> Callable[[], bool]:
    """Whether ``path`` exists and was written again since :func:`written` gave ``since``."""
    return lambda: path.is_file() and written(path) != since


def signalled(
    ws: Workspace, training: Running, latest: Path, sig: int, status: int, group: bool
) -> tuple[Verdict | None, int]:
    """Signal ``training`` once: None and the timesteps it saved at, or what went wrong."""
    periodic, before = checkpoint_timesteps(latest), written(latest)
    training.signal(sig, group=group)
    done = training.wait(min(180, ws.remaining()))
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    at = stopped_at(done.output, word)
    saved = checkpoint_timesteps(latest)
    if at is None or saved != at or written(latest) == before:
        return Verdict(
            LOSS,
            f"nothing saved at the signal (exit {done.returncode}: "
            f"{summary(done)}); latest.zip holds {saved} timesteps, the periodic "
            f"checkpoint held {periodic}",
        ), 0
    if done.traceback:
        return Verdict(
            TRACEBACK,
            f"{word} at {at} timesteps, checkpoint saved, exit "
            f"{done.returncode}, but it printed a {summary(done)}",
        ), at
    if done.returncode != status:
        return Verdict(WRONG, f"{word} at {at}, checkpoint saved, but exit {done.returncode}"), at
    return None, at


def interrupted_training(
    ws: Workspace, sig: int, status: int, extra: str, group: bool, rounds: int = 1
) -> Verdict:
    """Signal a training after a periodic checkpoint: it must save a checkpoint at the signal
    and exit with ``status``; ``--resume`` continues it. With ``rounds`` > 1 the resumed run is
    signalled again (a race shows in some rounds only): the first round that fails counts."""
    run = ws.path("RUN")
    latest = run / "checkpoints" / "latest.zip"
    stops = []
    first = f"train --out {{run}} {LONG_TRAIN} {extra}"
    for number in range(1, rounds + 1):
        line = first if number == 1 else "train --resume {run} --no-progress"
        before = written(latest)
        training = ws.start(simic_argv(line, run=run))
        ws.wait_for(training, rewritten(latest, before), "periodic checkpoint", 180)
        failure, at = signalled(ws, training, latest, sig, status, group)
        if failure is not None:
            where = f"round {number} of {rounds}: " if rounds > 1 else ""
            return Verdict(failure.verdict, where + failure.detail)
        stops.append(at)
    if failure := resumed(ws, run, stops[-1] + 32):
        return failure
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    return Verdict(
        OK,
        f"{word} at {', '.join(map(str, stops))} timesteps, exit {status} and a checkpoint "
        f"{'each time' if rounds > 1 else 'saved'}; --resume continued to {stops[-1] + 32}",
    )


@case("i17-02", "SIGTERM to the group of 'train --n-envs 2'", "issue 17 #2", timeout_s=300)
def sigterm_to_the_group_of_a_parallel_training(ws: Workspace) -> Verdict:
    # The issue saw it "in some runs": the resumed run is signalled again, three times in all.
    extra = "--n-envs 2 --checkpoint-every 64"
    return interrupted_training(ws, signal.SIGTERM, 143, extra, group=True, rounds=3)


@case("i17-03", "two 'evaluate --out X' at once; older files in X", "issue 17 #3", timeout_s=240)
def an_evaluation_owns_its_output_folder(ws: Workspace) -> Verdict:
    out = ws.path("E")
    earlier = ws.simic("evaluate --policy nogrow --save-model --out {out}", SMALL_EVAL, out=out)
    expect_success(earlier, "the earlier evaluation (with --save-model)", ERROR)
    long = ws.start(
        simic_argv("evaluate --policy nogrow --episodes 60 --out {out}", EVAL_ENV, out=out)
    )
    ws.wait_for(long, lambda: "evaluating" in long.stdout(), "start of the long evaluation", 90)
    second = ws.simic("evaluate --policy random --out {out}", SMALL_EVAL, out=out)
    expect_success(long.wait(ws.remaining()), "the long evaluation", LOSS)
    problems = []
    if second.returncode == 0:
        problems.append("a second evaluation into the same --out ran beside the first (exit 0)")
    played = [p["policy"] for p in json.loads((out / "results.json").read_text())["policies"]]
    if played != ["nogrow"]:
        problems.append(f"results.json holds {played}")
    if stale := sorted(p.name for p in (out / "models").glob("*.pt")):
        problems.append(f"the earlier evaluation's models stayed beside the results: {stale}")
    if problems:
        return Verdict(LOSS, "; ".join(problems))
    verdict = refused(second, "in use")
    if verdict.verdict != OK:
        return verdict
    return Verdict(OK, f"earlier models removed; the second refused: {verdict.detail}")


@case(
    "i17-04",
    "'train --engine rllib' with a relative --out",
    "issue 17 #4",
    timeout_s=420,
    slow=True,
)
def rllib_training_into_a_relative_folder(ws: Workspace) -> Verdict:
    done = ws.simic("train --engine rllib --out R --timesteps 64", SMALL_RLLIB)
    if done.returncode != 0:
        return Verdict(LOSS, f"the training was lost (exit {done.returncode}): {summary(done)}")
    if missing := [n for n in ("checkpoints/latest", "model") if not ws.path("R", n).is_dir()]:
        return Verdict(LOSS, f"exit 0, but R/ lacks {missing}")
    return Verdict(OK, "trained 64 steps into ./R: checkpoints/latest and model saved")


@case("i17-05", "SIGKILL a training, then --resume it", "issue 17 #5", timeout_s=240)
def resume_after_sigkill(ws: Workspace) -> Verdict:
    run = ws.path("RUN")
    latest = run / "checkpoints" / "latest.zip"
    training = ws.start(simic_argv("train --out {run} --checkpoint-every 32", LONG_TRAIN, run=run))
    ws.wait_for(training, latest.is_file, "first periodic checkpoint", 180)
    training.signal(signal.SIGKILL)
    training.wait(30)
    if (saved := checkpoint_timesteps(latest)) is None:
        raise Finding(ERROR, "setup: the killed run's checkpoint cannot be read")
    if failure := resumed(ws, run, saved + 32):
        return failure
    return Verdict(
        OK,
        f"killed at the checkpoint of {saved} timesteps; --resume continued to "
        f"{saved + 32} (no lock to delete)",
    )


@case(
    "i17-06", "--resume after config.json was edited to another env", "issue 17 #6", timeout_s=150
)
def resume_refuses_an_edited_config(ws: Workspace) -> Verdict:
    run = trained_run(ws)
    config = json.loads((run / "config.json").read_text())
    config["env"] = "simic/Grow-Digits-v0"
    (run / "config.json").write_text(json.dumps(config, indent=1))
    done = ws.simic("train --resume {run} --timesteps 64 --no-progress", run=run)
    if done.returncode == 0:
        return Verdict(
            WRONG,
            "trained the MNIST-1D checkpoint on simic/Grow-Digits-v0 (its "
            "provenance re-stamped) without a word",
        )
    return refused(done, "MNIST1D")


@case("i17-07", "bare 'evaluate --ray' uses RAY_ADDRESS", "issue 17 #7", timeout_s=150)
def bare_ray_uses_ray_address(ws: Workspace) -> Verdict:
    address = closed_address()
    done = ws.simic(
        "evaluate --ray --policy nogrow", SMALL_EVAL, env={"RAY_ADDRESS": address}, timeout=120
    )
    if done.returncode == 0:
        return Verdict(WRONG, f"RAY_ADDRESS={address} ignored: it played on a local Ray")
    return refused(done, address.split(":")[1])


FAMILY_REPLAY = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    import numpy as np
    import envs
    from kasmina import UserError

    env = envs.RecordEpisode(gym.make("simic/Grow-Family-v0", budget=3, batches_per_step=1))
    try:
        env.reset(seed=0, options={"instance": "mnist1d-w8x16x32-rent0.05"})
    except UserError as exc:
        print("RESULT " + json.dumps({"refused": f"{type(exc).__name__}: {exc}"}))
        sys.exit(0)
    done = False
    while not done:  # the highest valid action: slot-specific actions, where spaces differ
        action = int(np.flatnonzero(env.unwrapped.action_masks())[-1])
        done = any(env.step(action)[2:4])
    env.record.save(sys.argv[1])
    try:
        report = envs.EpisodeRecord.load(sys.argv[1]).validate()
        result = {"ok": report.ok, "report": str(report)}
    except UserError as exc:
        result = {"ok": False, "report": f"the replay failed: {type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(result))
    """
)


@case("i17-08", "a 3-width family instance: its recorded episode replays", "issue 17 #8")
def a_family_instance_replays_or_is_refused(ws: Workspace) -> Verdict:
    result = python_result(ws.python(FAMILY_REPLAY, ws.path("episode.json")))
    if "refused" in result:
        message = result["refused"]
        return Verdict(OK if "\n" not in message else TRACEBACK, f"reset refused it: {message}")
    if not result["ok"]:
        return Verdict(WRONG, f"accepted, but {result['report']}")
    return Verdict(OK, f"accepted and {result['report']}")


def unreachable_ray(ws: Workspace, line: str, out: Path) -> Verdict:
    """``simic <line>`` pointed at a closed port: one line naming the address within 60 s,
    and no ``out`` folder left behind."""
    address = closed_address()
    try:
        done = ws.simic(line, timeout=60, address=address, out=out)
    except Finding as hang:
        left = f"; left {out.name}/ behind" if out.exists() else ""
        return Verdict(hang.verdict.verdict, hang.verdict.detail + left)
    return refused_cleanly(done, out, address.split(":")[1])


@case("i17-09a", "'evaluate --ray HOST:PORT', nothing listening", "issue 17 #9", timeout_s=90)
def evaluate_on_an_unreachable_cluster(ws: Workspace) -> Verdict:
    line = f"evaluate --ray {{address}} --policy nogrow {SMALL_EVAL} --out {{out}}"
    return unreachable_ray(ws, line, ws.path("E"))


@case(
    "i17-09b",
    "'train --engine rllib --address HOST:PORT', nothing listening",
    "issue 17 #9",
    timeout_s=90,
)
def train_on_an_unreachable_cluster(ws: Workspace) -> Verdict:
    line = f"train --engine rllib --address {{address}} --out {{out}} --timesteps 64 {SMALL_RLLIB}"
    return unreachable_ray(ws, line, ws.path("R"))


@case("i17-10", "'evaluate --ray banana'", "issue 17 #10", timeout_s=120)
def a_ray_address_that_is_not_one(ws: Workspace) -> Verdict:
    return refused(ws.simic("evaluate --ray banana --policy nogrow", SMALL_EVAL), "banana")


@case("i17-11", "a MNIST-1D data_dir that is a regular file", "issue 17 #11")
def a_data_dir_that_is_a_file(ws: Workspace) -> Verdict:
    ws.path("not_a_folder").write_text("")
    line = "evaluate --policy nogrow --episodes 1 --env-kwargs budget=2 data_dir={file}"
    return refused(ws.simic(line, file=ws.path("not_a_folder")), "not_a_folder")


@case("i17-12", "'--warm-start schedule-best' on a plain env, twice", "issue 17 #12")
def a_teacher_that_cannot_play_is_refused_before_any_file(ws: Workspace) -> Verdict:
    run = ws.path("RUN")
    line = f"train --out {{run}} --warm-start schedule-best --timesteps 32 {SMALL_TRAIN}"
    first, second = ws.simic(line, run=run), ws.simic(line, run=run)
    verdict = refused(first, "family")
    if verdict.verdict != OK:
        return verdict
    if second.error_lines != first.error_lines:
        return Verdict(TRACEBACK, f"the same command is then refused otherwise: {summary(second)}")
    if run.exists():
        return Verdict(TRACEBACK, f"refused, but left {sorted(snapshot(run))} in RUN/")
    return Verdict(OK, f"refused twice alike, nothing written: {verdict.detail}")


@case("i17-13", "'--resume --timesteps' below the run's count", "issue 17 #13", timeout_s=150)
def nothing_to_do_writes_nothing(ws: Workspace) -> Verdict:
    run = trained_run(ws)
    before = snapshot(run)
    done = ws.simic("train --resume {run} --timesteps 16 --no-progress", run=run)
    expect_success(done, "--resume --timesteps 16")
    if "nothing to do" not in done.stdout:
        return Verdict(WRONG, f"did not say 'nothing to do': {summary(done)}")
    if diff := changed(before, snapshot(run)):
        return Verdict(WRONG, f"said 'nothing to do', yet rewrote {diff}")
    return Verdict(OK, f"{last_line(done.stdout)}; the run folder unchanged")


@case("i17-14", "results.json of a one-episode evaluation is strict JSON", "issue 17 #14")
def one_episode_results_are_strict_json(ws: Workspace) -> Verdict:
    done = ws.simic("evaluate --policy nogrow --out E", SMALL_EVAL)
    expect_success(done, "the evaluation")
    try:
        data = strict_json(ws.path("E", "results.json"))
    except ValueError as exc:
        return Verdict(WRONG, f"results.json is not strict JSON ({exc})")
    ci = data["policies"][0]["summary"]["return"]["ci95"]
    return Verdict(OK, f"strict JSON; the return's ci95 of one episode is {json.dumps(ci)}")


@case("i17-15", "the '--transfer' space mismatch is one short line", "issue 17 #15", timeout_s=150)
def a_transfer_to_other_spaces_is_one_short_line(ws: Workspace) -> Verdict:
    line = "evaluate --policy {model} --env simic/Grow-Family-v0 --transfer"
    done = ws.simic(line, SMALL_EVAL, model=ws.shared.model(ws))
    verdict = refused(done)
    if verdict.verdict == OK and (size := len(done.error_lines[0])) >= 400:
        return Verdict(TRACEBACK, f"one line, but {size} characters: {verdict.detail}")
    return verdict


@case("i17-16", "'schedule-best' on a family with budget=10", "issue 17 #16", timeout_s=150)
def tuned_tables_refuse_other_episode_settings(ws: Workspace) -> Verdict:
    line = "evaluate --env simic/Grow-Family-v0 --env-kwargs budget=10 --policy schedule-best"
    done = ws.simic(line, "--episodes 1")
    if done.returncode == 0:
        return Verdict(WRONG, "played tables tuned for the default budget at budget=10, silently")
    return refused(done, "budget")


# ----------------------------------------------------------------------------------- mistakes
# Each of these is a user's mistake: one line naming it, status 2, and no folder written.
refusal_case(
    "f-env-id",
    "an unknown env id gets a did-you-mean",
    "issue 7",
    "evaluate --env simic/Grow-Digit-v0 --policy nogrow --out {out}",
    "did you mean 'simic/Grow-Digits-v0'",
)
refusal_case(
    "f-env-kwarg",
    "an unknown env keyword gets a did-you-mean",
    "issue 7",
    "train --env-kwargs budgte=5 --out {out}",
    "did you mean 'budget'",
)
refusal_case(
    "f-blueprint",
    "an unknown blueprint gets a did-you-mean",
    "issue 7",
    "demo --blueprints conv_lite attention",
    "did you mean 'conv_light'",
)
refusal_case(
    "f-policy-name",
    "an unknown policy name gets a did-you-mean",
    "issue 7",
    f"evaluate --policy heuristc {SMALL_EVAL} --out {{out}}",
    "did you mean 'heuristic'",
)
refusal_case(
    "f-host-lr",
    "--env-kwargs host_lr=abc",
    "issue 7 #8",
    "train --env-kwargs host_lr=abc --out {out}",
    "host_lr",
)
refusal_case(
    "f-data-dir-list",
    "--env-kwargs data_dir=[1]",
    "issue 7 #8",
    "train --env-kwargs data_dir=[1] --out {out}",
    "data_dir",
)
refusal_case(
    "f-memory-probe",
    "--env-kwargs memory_probe=3",
    "issue 7 #8",
    "train --env-kwargs memory_probe=3 --out {out}",
    "memory_probe",
)
config_file_case("f-config-ppo-int", "a config file with 'ppo: 5'", b"ppo: 5\n", "ppo")
config_file_case(
    "f-config-net-arch",
    "a config file with 'ppo: {net_arch: 64}'",
    b"ppo: {net_arch: 64}\n",
    "net_arch",
)
config_file_case(
    "f-config-not-utf8", "a config file that is not UTF-8", b"\xff\xfe\x00timesteps: 5\n", "UTF-8"
)
config_file_case(
    "f-config-flat-ppo-key",
    "a PPO key at a config file's top level",
    b"n_steps: 64\n",
    "did you mean 'ppo.n_steps'",
)
refusal_case(
    "f-device", "--device banana", "issue 7 #8", "train --device banana --out {out}", "banana"
)
refusal_case(
    "f-n-steps-1",
    "--n-steps 1 (a one-sample minibatch), before training",
    "issue 7 #8",
    f"train --n-steps 1 --timesteps 64 {SMALL_ENV} --out {{out}}",
    "n_steps",
)
refusal_case(
    "f-gama",
    "--gama 0.9 suggests --gamma",
    "issue 7 #8",
    "train --gama 0.9 --out {out}",
    "did you mean --gamma",
)
refusal_case(
    "f-eval-seed-range",
    "evaluation seeds reaching 10**9",
    "issue 7",
    "evaluate --seed 999999999 --episodes 2 --policy nogrow --out {out}",
    "10**9",
)
refusal_case(
    "f-save-model-no-out",
    "--save-model without --out",
    "issue 7",
    f"evaluate --save-model --policy nogrow {SMALL_EVAL}",
    "--out",
)
refusal_case(
    "f-policy-twice",
    "a policy listed twice",
    "issue 7",
    f"evaluate --policy nogrow --policy nogrow {SMALL_EVAL} --out {{out}}",
    "twice",
)
refusal_case(
    "f-warm-start-unknown",
    "--warm-start with an unknown teacher",
    "issue 17",
    f"train --warm-start heuristc --timesteps 32 {SMALL_TRAIN} --out {{out}}",
    "did you mean 'heuristic'",
)


@case("f-out-under-file", "'evaluate --out FILE/x' fails before any episode", "issue 7 #6")
def an_out_under_a_file_fails_first(ws: Workspace) -> Verdict:
    ws.path("file").write_text("")
    line = f"evaluate --policy nogrow --episodes 20 {EVAL_ENV} --out {{out}}"
    done = ws.simic(line, out=ws.path("file", "x"))
    verdict = refused(done, "cannot be written")
    if verdict.verdict == OK and "evaluating" in done.stdout:
        return Verdict(TRACEBACK, f"refused only after playing: {verdict.detail}")
    return verdict


@case("f-corrupt-model", "a corrupt model .zip given to evaluate", "issue 7")
def a_corrupt_model_is_one_line(ws: Workspace) -> Verdict:
    ws.path("model.zip").write_bytes(b"PK\x03\x04 this is not a model")
    return refused(ws.simic("evaluate --policy model.zip", SMALL_EVAL), "model.zip")


SWEEP: dict[str, Any] = {
    **TINY_SWEEP,
    "search": {"ppo.ent_coef": {"grid": [0.0, 0.01, 0.02]}},
    "max_concurrent_trials": 1,
}
"""The smallest sweep the suite runs (tests/simic/test_sweep.py), three trials one at a time."""


@case("f-sweep-bad-key", "'simic sweep' with a misspelt config key", "issue 17")
def a_sweep_config_key_gets_a_did_you_mean(ws: Workspace) -> Verdict:
    misspelt = {("serach" if key == "search" else key): value for key, value in SWEEP.items()}
    ws.path("sweep.json").write_text(json.dumps(misspelt))
    done = ws.simic("sweep sweep.json --storage S")
    return refused_cleanly(done, ws.path("S"), "did you mean 'search'")


# ----------------------------------------------------------------------------------- signals
@case(
    "f-sigint-train",
    "Ctrl-C (SIGINT to the group) during 'simic train'",
    "issue 7 #3",
    timeout_s=300,
)
def ctrl_c_saves_a_checkpoint(ws: Workspace) -> Verdict:
    return interrupted_training(ws, signal.SIGINT, 130, "--checkpoint-every 32", group=True)


@case("f-sigterm-train", "SIGTERM ('kill PID') during 'simic train'", "issue 7 #3", timeout_s=300)
def sigterm_saves_a_checkpoint(ws: Workspace) -> Verdict:
    return interrupted_training(ws, signal.SIGTERM, 143, "--checkpoint-every 32", group=False)


@case(
    "f-sigterm-evaluate",
    "SIGTERM to the group of 'evaluate --n-envs 2'",
    "issue 7 #6",
    timeout_s=240,
)
def sigterm_keeps_the_finished_episodes(ws: Workspace) -> Verdict:
    out = ws.path("E")
    line = "evaluate --policy nogrow --episodes 200 --n-envs 2 --env-kwargs budget=4"
    evaluation = ws.start(simic_argv(line, "--save-model --out {out}", out=out))

    def exported() -> int:  # each finished episode exports its grown network at once
        return len(list((out / "models").glob("*.pt")))

    ws.wait_for(evaluation, lambda: exported() >= 4, "4 finished episodes", 180)
    finished = exported()
    evaluation.signal(signal.SIGTERM)
    done = evaluation.wait(min(180, ws.remaining()))
    if done.traceback:
        return Verdict(TRACEBACK, f"exit {done.returncode}: {summary(done)}")
    if not (out / "results.json").is_file():
        return Verdict(
            LOSS, f"no results.json: {finished} finished episodes lost ({summary(done)})"
        )
    data = json.loads((out / "results.json").read_text())
    kept = len(data["policies"][0]["episodes"])
    if kept < finished - 2:  # two may have been on their way from the workers to the parent
        return Verdict(LOSS, f"results.json keeps {kept} episodes; {finished} had finished")
    if data.get("partial") is not True or done.returncode != 143:
        partial = data.get("partial")
        return Verdict(WRONG, f"exit {done.returncode}, partial={partial!r}, {kept} episodes")
    return Verdict(
        OK,
        f"exit 143; results.json partial with {kept} of 200 episodes "
        f"({finished} had finished at the signal)",
    )


# ----------------------------------------------------------------------------------- folders
@case(
    "f-two-trains",
    "two 'train --out X' at once, and '--resume X' meanwhile",
    "issue 7 #2",
    timeout_s=240,
)
def a_run_folder_belongs_to_one_process(ws: Workspace) -> Verdict:
    run = ws.path("X")
    line = f"train --out {{run}} --checkpoint-every 100000 {LONG_TRAIN}"
    first = ws.start(simic_argv(line, run=run))
    ws.wait_for(first, (run / "config.json").is_file, "config.json of the first", 120)
    try:  # a second process that is still training after a minute trains beside the first
        second = ws.simic(line, run=run, timeout=60)
        resume = ws.simic(
            "train --resume {run} --timesteps 200000 --no-progress", run=run, timeout=60
        )
    except Finding as hang:
        return Verdict(
            LOSS, f"a second process trained into X beside the first: {hang.verdict.detail}"
        )
    first.signal(signal.SIGINT)
    first.wait(min(180, ws.remaining()))
    for other, what in ((second, "a second 'train --out X'"), (resume, "'--resume X'")):
        if other.returncode == 0:
            return Verdict(LOSS, f"{what} trained into X while the first ran")
        verdict = refused(other, "in use")
        if verdict.verdict != OK:
            return verdict
    return Verdict(OK, f"both refused: {verdict.detail}")


@case(
    "f-resume-copy",
    "'--resume COPY' trains the copy, not the original",
    "issue 7 #1",
    timeout_s=180,
)
def resume_trains_the_folder_given(ws: Workspace) -> Verdict:
    original = trained_run(ws, "original")
    before = snapshot(original)
    copy = Path(shutil.copytree(original, ws.path("copy")))
    done = ws.simic("train --resume {run} --timesteps 64 --no-progress", run=copy)
    expect_success(done, "--resume of the copy")
    if hurt := changed(before, snapshot(original)):
        return Verdict(LOSS, f"the original changed: {', '.join(hurt[:3])}")
    if (steps := checkpoint_timesteps(copy / "model.zip")) != 64:
        return Verdict(WRONG, f"the copy's model holds {steps} timesteps, not 64")
    return Verdict(OK, "the copy trained to 64 timesteps; the original untouched")


@case(
    "f-died-before-checkpoint",
    "--resume of a run killed before its first checkpoint",
    "issue 7 #4",
    timeout_s=240,
)
def a_run_that_died_early_starts_again(ws: Workspace) -> Verdict:
    run = ws.path("RUN")
    line = f"train --out {{run}} --checkpoint-every 100000 {LONG_TRAIN}"
    training = ws.start(simic_argv(line, run=run))
    ws.wait_for(training, (run / "config.json").is_file, "config.json", 120)
    time.sleep(2)  # training, long before its first checkpoint
    training.signal(signal.SIGKILL)
    training.wait(30)
    if (run / "checkpoints" / "latest.zip").exists():
        raise Finding(ERROR, "setup: the run saved a checkpoint before it was killed")
    if failure := resumed(ws, run, 32):
        return failure
    return Verdict(OK, "--resume started it again from 0 with its recorded config: 32 timesteps")


@case(
    "f-model-other-env",
    "a model on another env: refused unless --transfer",
    "issue 7 #7",
    timeout_s=150,
)
def a_model_knows_its_environment(ws: Workspace) -> Verdict:
    line = f"evaluate --policy {{model}} --env simic/Grow-Digits-v0 {SMALL_EVAL}"
    model = ws.shared.model(ws)
    done = ws.simic(line, model=model)
    if done.returncode == 0:
        return Verdict(WRONG, "a MNIST-1D model played simic/Grow-Digits-v0 without --transfer")
    verdict = refused(done, "--transfer")
    if verdict.verdict != OK:
        return verdict
    expect_success(ws.simic(line, "--transfer", model=model), "the same with --transfer")
    return Verdict(OK, f"played with --transfer; without: {verdict.detail}")


# ----------------------------------------------------------------------------------- API
PICKLE_ROUND_TRIP = textwrap.dedent(
    """
    import json, pickle, sys
    import gymnasium as gym
    import numpy as np
    import envs

    KWARGS = {"budget": 6, "batches_per_step": 1}

    def build(kind):
        if kind == "GrowthEnv":
            return envs.GrowthEnv("mnist1d", **KWARGS)
        env = gym.make("simic/Grow-MNIST1D-v0", **KWARGS)
        wrappers = {"DictMaskObservation": envs.DictMaskObservation,
                    "RecordEpisode": envs.RecordEpisode, "unwrapped": lambda e: e.unwrapped}
        return wrappers.get(kind, lambda e: e)(env)

    def same(a, b):
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(a, b)
        return bool(a == b)

    def play(env, steps):  # the highest valid action: grows, then fossilizes or prunes
        return [env.step(int(np.flatnonzero(env.unwrapped.action_masks())[-1]))
                for _ in range(steps)]

    def check(kind):
        env = build(kind)
        fresh = pickle.loads(pickle.dumps(env))
        before = same(env.reset(seed=4), fresh.reset(seed=4)) and same(play(env, 3), play(fresh, 3))
        env = build(kind)
        env.reset(seed=3)
        play(env, 2)  # a live seed, with its own optimizer state
        copy = pickle.loads(pickle.dumps(env))
        return {"before_reset": before, "after_reset": same(play(env, 4), play(copy, 4))}

    print("RESULT " + json.dumps({kind: check(kind) for kind in sys.argv[1:]}))
    """
)


def pickled_envs_continue(ws: Workspace, *kinds: str) -> Verdict:
    """Each kind of env pickled before reset and after a few steps: the copies continue alike."""
    result = python_result(ws.python(PICKLE_ROUND_TRIP, *kinds))
    diverged = [
        f"{kind} {when}" for kind, runs in result.items() for when, ok in runs.items() if not ok
    ]
    if diverged:
        return Verdict(WRONG, f"the pickled copy diverged: {', '.join(diverged)}")
    return Verdict(
        OK, f"{', '.join(kinds)}: pickled before and after reset, the copies continue identically"
    )


@case("f-pickle-bare", "pickling a bare env before/after reset", "issue 7 #9")
def a_bare_env_pickles(ws: Workspace) -> Verdict:
    return pickled_envs_continue(ws, "GrowthEnv", "unwrapped")


@case("f-pickle-wrapped", "pickling a wrapped env before/after reset", "issue 7 #9")
def a_wrapped_env_pickles(ws: Workspace) -> Verdict:
    return pickled_envs_continue(ws, "gymnasium.make", "DictMaskObservation", "RecordEpisode")


FRESH_MAKE = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    assert "envs" not in sys.modules
    env = gym.make("envs:simic/Grow-Digits-v0", budget=2)
    obs, info = env.reset(seed=0)
    print("RESULT " + json.dumps({"id": env.spec.id, "features": len(obs)}))
    """
)


@case("f-fresh-make", "gymnasium.make('envs:simic/Grow-Digits-v0'), fresh process", "issue 7 #10")
def an_env_id_resolves_in_a_fresh_process(ws: Workspace) -> Verdict:
    result = python_result(ws.python(FRESH_MAKE))
    return Verdict(OK, f"made {result['id']} and reset it ({result['features']} features)")


@case(
    "f-deterministic", "the same 'simic evaluate' twice: byte-identical", "issue 7", timeout_s=150
)
def evaluation_is_reproducible(ws: Workspace) -> Verdict:
    for name in ("A", "B"):
        line = f"evaluate --policy heuristic --policy random --episodes 2 {EVAL_ENV} --out {name}"
        expect_success(ws.simic(line), f"evaluation {name}")
    if differ := same_files(ws.path("A"), ws.path("B"), ("results.json", "episodes.csv")):
        return Verdict(WRONG, f"two runs of one evaluation differ in {differ}")
    return Verdict(OK, "results.json and episodes.csv byte-identical")


@case("f-family-table", "evaluating a family writes a family table", "issue 17", timeout_s=150)
def a_family_evaluation_has_a_family_table(ws: Workspace) -> Verdict:
    line = "evaluate --env simic/Grow-Family-v0 --policy heuristic --episodes 1 --out E"
    done = expect_success(ws.simic(line, SMALL_ENV), "the family evaluation")
    data = json.loads(ws.path("E", "results.json").read_text())  # NaN or not: that is i17-14
    instances, policy = data.get("instances", []), data["policies"][0]
    rows = [name for name in instances if name in done.stdout]
    problems = [
        what
        for what, bad in (
            ("no instances in results.json", not instances),
            ("no family_summary", not policy.get("family_summary")),
            ("no 'family average' row printed", "family average" not in done.stdout),
            (f"{len(rows)} of {len(instances)} instance rows printed", len(rows) != len(instances)),
            ("no instances.png", not ws.path("E", "instances.png").is_file()),
        )
        if bad
    ]
    if problems:
        return Verdict(WRONG, "; ".join(problems))
    return Verdict(
        OK,
        f"{len(instances)} instance rows and the family average, in the table "
        "and results.json; instances.png",
    )


# ----------------------------------------------------------------------------------- Ray (slow)
@case(
    "f-sweep-resume",
    "a stopped 'simic sweep' resumed: finished trials untouched",
    "issue 17",
    timeout_s=900,
    slow=True,
)
def a_resumed_sweep_leaves_finished_trials_alone(ws: Workspace) -> Verdict:
    storage = ws.path("S")
    ws.path("sweep.json").write_text(json.dumps(SWEEP))
    sweep = ws.start(simic_argv("sweep sweep.json --storage S"))

    def finished() -> dict[str, int]:  # trial -> when its model was written
        return {
            p.parents[1].name: written(p.parents[1] / "run" / "model.zip")
            for p in storage.glob("trial_*/evaluation/results.json")
        }

    ws.wait_for(sweep, lambda: bool(finished()), "finished trial", 420)
    sweep.signal(signal.SIGINT, group=False)  # 'kill -INT': Tune saves its state and stops
    stopped = sweep.wait(min(180, ws.remaining()))
    done_before = finished()
    expect_success(ws.simic("sweep sweep.json --storage S --resume"), "the resumed sweep", LOSS)
    rerun = [
        name
        for name, mtime in done_before.items()
        if finished().get(name) != mtime
        or (storage / name / "trial.log").read_text().count("training MaskablePPO") != 1
    ]
    if rerun:
        return Verdict(LOSS, f"finished trials ran again: {rerun}")
    if len(finished()) != 3:
        return Verdict(LOSS, f"{len(finished())} of 3 trials finished after --resume")
    return Verdict(
        OK,
        f"stopped (exit {stopped.returncode}) with {len(done_before)} of 3 "
        "trials done; --resume ran only the others",
    )


@case(
    "f-evaluate-ray",
    "'evaluate --ray' on a local Ray equals the local numbers",
    "issue 17",
    timeout_s=420,
    slow=True,
)
def a_ray_evaluation_equals_the_local_one(ws: Workspace) -> Verdict:
    line = f"evaluate --policy heuristic {SMALL_EVAL} --seed 7"
    expect_success(ws.simic(line, "--out local"), "the local evaluation", ERROR)
    expect_success(ws.simic(line, "--ray --out ray"), "the Ray evaluation")
    if differ := same_files(ws.path("local"), ws.path("ray"), ("results.json", "episodes.csv")):
        return Verdict(WRONG, f"the Ray evaluation differs from the local one in {differ}")
    return Verdict(OK, "results.json and episodes.csv byte-identical to the local evaluation")


# ----------------------------------------------------------------------------------- running
@dataclass(frozen=True)
class Result:
    """A measured case."""

    case: Case
    verdict: Verdict
    wall_s: float
    strays: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "title": self.case.title,
            "source": self.case.source,
            "slow": self.case.slow,
            "verdict": self.verdict.verdict,
            "detail": self.verdict.detail,
            "wall_s": round(self.wall_s, 1),
            "stray_processes": self.strays,
        }


def run_case(case: Case, tree: Path, work: Path, shared: Shared) -> Result:
    """Run one case in ``work/<id>`` and classify it; whatever it started is stopped after."""
    folder = work / case.id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ws = Workspace(tree, folder, case.timeout_s, shared)
    start = time.perf_counter()
    strays = 0
    try:
        verdict = case.check(ws)
    except Finding as found:
        verdict = found.verdict
    except Exception as exc:  # a bug of the harness must not stop the matrix
        verdict = Verdict(ERROR, f"harness: {type(exc).__name__}: {exc}")
    finally:
        strays = ws.stop_strays()
    if strays:  # a process that outlives its command (a Ray worker, an env worker) is news
        verdict = Verdict(verdict.verdict, f"{verdict.detail} [{strays} stray process(es) killed]")
    return Result(case, verdict, time.perf_counter() - start, strays)


def git_commit(tree: Path) -> dict[str, Any]:
    """The commit ``tree`` has checked out, and whether its tracked files differ from it."""

    status = procs.git(tree, "status", "--porcelain", "--untracked-files=no")
    return {"commit": procs.git(tree, "rev-parse", "HEAD") or None, "dirty": bool(status)}


def report(
    tree: Path, results: Sequence[Result], selected: Sequence[Case], wall_s: float
) -> dict[str, Any]:
    counts = {v: sum(r.verdict.verdict == v for r in results) for v in VERDICTS}
    return {
        "benchmark": "fault_matrix",
        "tree": str(tree),
        **git_commit(tree),
        "python": PYTHON,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_end": list(os.getloadavg()),
        },
        "complete": len(results) == len(selected),
        "selected": [c.id for c in selected],
        "counts": {v: n for v, n in counts.items() if n},
        "wall_s": round(wall_s, 1),
        "cases": [r.to_dict() for r in results],
    }


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per case: id, what it does, verdict, wall time, what was seen."""
    width = max([len(r["id"]) for r in rows] + [4])
    lines = [f"{'case':<{width}}  {'what':<62}  {'verdict':<9} {'wall':>6}  detail"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        title = r["title"] if len(r["title"]) <= 62 else r["title"][:61] + "…"
        detail = r["detail"] if len(r["detail"]) <= 110 else r["detail"][:109] + "…"
        lines.append(
            f"{r['id']:<{width}}  {title:<62}  {r['verdict']:<9} {r['wall_s']:>5.0f}s  {detail}"
        )
    return "\n".join(lines)


def markdown(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Each case's verdict before and after, and what was seen where it was not OK."""

    def name(data: Mapping[str, Any]) -> str:
        commit = (data.get("commit") or "?")[:7]
        return f"{commit}{' + changes' if data.get('dirty') else ''}"

    def cell(text: str, limit: int = 160) -> str:
        text = text.replace("|", "/")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    old = {c["id"]: c for c in before["cases"]}
    new = {c["id"]: c for c in after["cases"]}
    lines = [
        "# Fault matrix (generated by python -m benchmarks.fault_matrix)",
        "",
        f"Before: `{name(before)}` ({before['wall_s']:.0f} s); after: `{name(after)}` "
        f"({after['wall_s']:.0f} s). Verdicts: OK, TRACEBACK, LOSS, WRONG, HANG (see "
        "`benchmarks/fault_matrix.py`); the details of every case are in the JSON files.",
        "",
        "| case | what | before | after | what was seen where it was not OK |",
        "|---|---|---|---|---|",
    ]
    for case_id in [*new, *(i for i in old if i not in new)]:
        pair = [side.get(case_id, {}) for side in (old, new)]
        verdicts = [side.get("verdict", "-") for side in pair]
        seen = next((s["detail"] for s in reversed(pair) if s.get("verdict", OK) != OK), "")
        title = (pair[1] or pair[0])["title"]
        lines.append(f"| {case_id} | {cell(title)} | {' | '.join(verdicts)} | {cell(seen)} |")
    for label, data in (("before", before), ("after", after)):
        counts = ", ".join(f"{v} {n}" for v, n in data["counts"].items())
        lines.append(f"\n{label}: {counts}")
    return "\n".join(lines) + "\n"


def select(only: Sequence[str] | None, skip_slow: bool) -> list[Case]:
    unknown = [i for i in only or () if i not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; --list shows the ids")
    chosen = [CASES[i] for i in only] if only else list(CASES.values())
    return [c for c in chosen if not (skip_slow and c.slow)]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fault_matrix", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these cases")
    p.add_argument("--skip-slow", action="store_true", help="leave out the cases that start Ray")
    p.add_argument("--tree", default=str(ROOT), help="the checkout to measure (default: this one)")
    p.add_argument(
        "--out", default=str(DEFAULT_OUT), help="results file (JSON, written atomically)"
    )
    p.add_argument("--work", help="scratch folder, kept (default: a temporary one, removed)")
    p.add_argument("--before", help="an earlier results file: also write the markdown table")
    p.add_argument("--markdown", default=str(DEFAULT_MARKDOWN), help="where --before's table goes")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: write the table of --before and --out",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def measure(args: argparse.Namespace, cases: Sequence[Case], work: Path) -> dict[str, Any]:
    """Run ``cases`` one at a time, printing each verdict and rewriting --out after each."""
    tree = Path(args.tree).resolve()
    shared = Shared(work / "_shared")
    results: list[Result] = []
    start = time.perf_counter()
    data: dict[str, Any] = {}
    for case in cases:
        print(f"{case.id}: {case.title} ...", flush=True)
        results.append(run_case(case, tree, work, shared))
        print(
            f"  {results[-1].verdict.verdict} ({results[-1].wall_s:.0f} s): "
            f"{results[-1].verdict.detail}",
            flush=True,
        )
        data = report(tree, results, cases, time.perf_counter() - start)
        atomic_write_text(args.out, json.dumps(data, indent=1) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for c in CASES.values():
            print(f"{c.id:<26} {'slow ' if c.slow else '     '}{c.title}  ({c.source})")
        return 0
    if args.report_only:
        data = json.loads(Path(args.out).read_text())
    else:
        cases = select(args.only, args.skip_slow)
        work = Path(args.work or tempfile.mkdtemp(prefix="fault_matrix-")).resolve()
        try:
            data = measure(args, cases, work)
        finally:
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)
        print(f"\n{table(data['cases'])}\n\n{data['counts']} in {data['wall_s']:.0f} s; {args.out}")
    if args.before:
        atomic_write_text(args.markdown, markdown(json.loads(Path(args.before).read_text()), data))
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
