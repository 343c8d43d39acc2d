"""Chaos test of the simic command line (issue 17: nothing lost, nothing hung).

Each command runs as a user or a cluster scheduler runs it (a ``simic`` subprocess in a session
of its own, output to a log), is killed at random moments, and is resumed or run again until it
finishes:

1. **train**: ``simic train --n-envs 2 --checkpoint-every K``; once a checkpoint exists, the
   whole process group gets SIGKILL or SIGTERM (what job schedulers, Ray and ``timeout`` send),
   then ``simic train --resume RUN``. Checked: SIGTERM exits 143 with a checkpoint saved at the
   interrupt; every resume starts at the timestep of the checkpoint it found, after SIGKILL too
   (no lock deleted by hand); the run ends with ``model.zip`` at N timesteps.
2. **evaluate**: ``simic evaluate --n-envs 2 --out E``, killed the same two ways and run again
   into E. Checked: the final ``results.json`` is complete strict JSON, and every file in E
   comes from the final run (the CSV and figures agree with it; no temporary files).
3. **sweep**: ``simic sweep`` of 6 tiny trials; Ray worker processes (the trials' actors) are
   SIGKILLed while it runs, then the driver itself; ``simic sweep --resume`` until it finishes.
   Checked: every trial ends exactly once, with a model and an evaluation from one attempt
   (config, model and evaluation agree), and sweep.json / sweep.csv list each trial once.

After every command, each process it started must be gone within a grace period (nothing
hung); survivors are reported, then killed by pid. The benchmark never repairs what it finds
(it never deletes a lock): a failed check is recorded, and a part stops where a user would be
stuck.

Kill moments are draws from numpy Generators seeded by ``--seed`` (one per part), so the
schedule is reproducible; what the processes are doing at that moment depends on the machine.
Every invocation works in a fresh folder under ``--work`` (safe to rerun) and stops on its own
at ``--budget-s``. Results: ``benchmarks/results/chaos.json`` (written atomically) and a
summary table; the exit status is 0 only if every check passed.

Usage::

    python -m benchmarks.chaos [--seed 0] [--budget-s 900] [--work runs/chaos] [--parts ...]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.common.procs import (
    ROOT,
    Proc,
    Process,
    child_env,
    descendants,
    git,
    is_running,
    process_table,
    read_proc,
    simic_argv,
)
from benchmarks.common.runs import (
    TINY_SWEEP,
    checkpoint_timesteps,
    lock_held,
    strict_json,
    zip_data,
)
from envs.atomic import atomic_write_text
from simic.common.runfolder import LOCK_FILE

RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("train", "evaluate", "sweep")
SHARES = {"train": 0.25, "evaluate": 0.15, "sweep": 0.6}
"""Each part's share of the budget left when it starts (a part that ends early leaves its
time to the next)."""

EXIT_GRACE_S = 120.0
"""How long a signalled command may take to save and exit, by default (saving a checkpoint on a
busy machine once took over 60 s)."""
LEFTOVER_GRACE_S = 90.0
"""How long the processes a command started may outlive it: Ray's agents take about a minute to
notice that a SIGKILLed driver took their raylet with it."""
POLL_S = 0.25
SIGNALS = ("SIGKILL", "SIGTERM")

# Tiny settings: seconds per run, so the kills, not the learning, take the time.
TRAIN_ARGS = ["--env-kwargs", "budget=4", "batches_per_step=1", "--n-steps", "32"]
TRAIN_ARGS += ["--batch-size", "64", "--n-epochs", "1", "--eval-every", "0", "--seed", "0"]
ROLLOUT = 32 * 2
"""Timesteps per PPO rollout (n_steps x n_envs): a run resumed mid-rollout overshoots by less."""
EVALUATE_POLICIES = ("heuristic", "nogrow")
EVALUATE_FILES = {"results.json", "episodes.csv", "validation_curves.png", "pareto.png"}
SWEEP_CONFIG: dict[str, Any] = {
    **TINY_SWEEP,
    # Long enough for a kill to land mid-trial; 3 seeds x 2 settings = 6 trials.
    "timesteps": 512,
    "checkpoint_every": 64,
    "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "seeds": [0, 1, 2],
    "evaluation": {**TINY_SWEEP["evaluation"], "seed": 1000},
    "resources": {"cpu": 1},
}
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
"""Ray's per-node agents: system processes, not workers (the raylet dies with them)."""
MAX_SWEEP_RUNS = 8


class PartStoppedError(Exception):
    """A part cannot go on (out of time, or a command refused to continue); already recorded."""


# ----------------------------------------------------------------------------------- processes
@dataclass
class Job:
    """A ``simic`` command started in a session of its own, as a scheduler starts one."""

    name: str
    process: Process
    started: float
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)
    """Every process it was seen to start: what must be gone once it has ended."""
    killed_at: float | None = None

    @classmethod
    def start(cls, name: str, args: list[str], log: Path) -> Job:
        # This tree's simic (the commands test the code next to the benchmark), a local Ray,
        # unbuffered output (the log lines are what the kills wait for), and faulthandler on
        # (a hung command's stacks can be dumped).
        process = Process(
            simic_argv(*args),
            log,
            cwd=log.parent,  # where a core dump of a hung command would land
            env=child_env(ROOT, {"PYTHONFAULTHANDLER": "1"}),
            header=f"$ simic {' '.join(args)}\n",
        )
        return cls(name, process, time.time())

    @property
    def log(self) -> Path:
        return self.process.out

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.process.output()

    def tail(self) -> str:
        lines = [line for line in self.output().splitlines() if line.strip()]
        return lines[-1][:500] if lines else ""

    def watch(self) -> list[Proc]:
        """Its processes now (descendants and session members), remembered in ``seen``."""
        table = process_table()
        mine = {p.pid: p for p in descendants(self.pid, table)}
        mine.update({p.pid: p for p in table if p.session == self.pid and p.pid != self.pid})
        for proc in mine.values():
            self.seen[(proc.pid, proc.start)] = proc
        return [p for p in mine.values() if p.state != "Z"]

    def poll(self) -> int | None:
        return self.process.poll()

    def signal_group(self, sig: signal.Signals) -> None:
        self.process.signal(sig)


# ----------------------------------------------------------------------------------- ledger
@dataclass
class Ledger:
    """What happened: counts, kills and every check, by part."""

    part: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    checks: list[dict[str, Any]] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    walls: dict[str, float] = field(default_factory=dict)

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append({"part": self.part, "check": name, "passed": passed, "detail": detail})
        shown = f" ({detail})" if detail and not passed else ""
        print(f"  [{'ok' if passed else 'FAIL'}] {self.part}: {name}{shown}", flush=True)
        return passed

    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"]]


@dataclass
class Context:
    """One part's run: where it works, its deadline, its ledger and the jobs it started."""

    ledger: Ledger
    work: Path
    deadline: float
    args: argparse.Namespace
    jobs: list[Job] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Job:
        self.require(time.time() < self.deadline, "the part finished within its budget")
        job = Job.start(name, args, self.work / "logs" / f"{name}.log")
        if self.jobs:  # the same command again: resumed, or run again into its folder
            again = "resumes" if "--resume" in args else "reruns"
            self.ledger.counts[f"{self.ledger.part}_{again}"] += 1
        self.jobs.append(job)
        print(f"  {self.ledger.part}: started {name} (pid {job.pid})", flush=True)
        return job

    def require(self, passed: bool, name: str, detail: str = "") -> None:
        """Record a check that the part cannot go on without."""
        if not passed:
            self.ledger.check(name, False, detail)
            raise PartStoppedError(name)

    def until(self, job: Job, ready: Callable[[], bool], what: str) -> bool:
        """Wait while ``job`` runs until ``ready()``; False if the job ended first."""
        while not ready():
            if job.poll() is not None:
                return ready()
            self.require(time.time() < self.deadline, f"{what} within the budget")
            job.watch()
            time.sleep(POLL_S)
        return True

    def sleep(self, job: Job, seconds: float) -> bool:
        """Sleep ``seconds`` while ``job`` runs; False if it ended first."""
        end = time.time() + seconds
        return self.until(job, lambda: time.time() >= end, "the kill moment") and job.poll() is None

    def wait(self, job: Job, what: str) -> int:
        """Its exit status, waiting at most until the deadline."""
        self.until(job, lambda: job.poll() is not None, what)
        return int(job.process.returncode)

    def kill(self, job: Job, sig: str, delay: float, target: Proc | None = None) -> None:
        """Send ``sig`` to the job's process group, or SIGKILL to one process (``target``)."""
        number = signal.Signals[sig]
        if target is None:
            job.signal_group(number)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target.pid, number)
        if target is None or target.pid == job.pid:  # a kill that ends the job
            job.killed_at = time.time()
        who = "process group" if target is None else target.title.split(" ")[0]
        self.ledger.kills.append(
            {
                "part": self.ledger.part,
                "job": job.name,
                "signal": sig,
                "target": who,
                "drawn_delay_s": round(delay, 3),
                "at_s": round(time.time() - job.started, 3),
            }
        )
        print(f"  {self.ledger.part}: {sig} -> {job.name} {who}", flush=True)

    def ended(self, job: Job, signalled: bool = True) -> int | None:
        """Its exit status once it and everything it started are gone (``None``: it hung).

        A job that does not exit in time is SIGKILLed; survivors are reported and killed.
        """
        grace = self.args.exit_grace_s
        limit = time.time() + (grace if signalled else 0.0)
        while job.poll() is None and time.time() < limit:
            job.watch()
            time.sleep(POLL_S)
        hung = job.poll() is None
        if hung:
            self.ledger.counts["hung_commands"] += 1
            last = job.tail()
            # SIGABRT makes faulthandler (PYTHONFAULTHANDLER) write every thread's stack to the
            # log, which shows where it hung.
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.process.wait(timeout=5)
            job.signal_group(signal.SIGKILL)
            job.process.wait()
            detail = f"last output {last!r}; stacks in {job.log}"
            self.ledger.check(f"{job.name} exited within {grace:.0f} s", False, detail)
        elif job.killed_at is not None and self.ledger.kills:
            self.ledger.kills[-1]["exited_after_s"] = round(time.time() - job.killed_at, 1)
        self._no_leftovers(job)
        return None if hung else int(job.process.returncode)

    def _no_leftovers(self, job: Job) -> None:
        exited = time.time()
        limit = exited + LEFTOVER_GRACE_S
        alive = [p for p in job.seen.values() if is_running(p)]
        while alive and time.time() < limit:
            time.sleep(POLL_S)
            alive = [p for p in alive if is_running(p)]
        self.ledger.jobs.append(
            {
                "part": self.ledger.part,
                "job": job.name,
                "exit_status": job.process.returncode,
                "wall_s": round(exited - job.started, 1),
                "processes_seen": len(job.seen),
                "outlived_by_s": round(time.time() - exited, 1),
            }
        )
        titles = sorted({p.title.split(" ")[0][:60] for p in alive})
        self.ledger.check(
            f"nothing {job.name} started outlived it by {LEFTOVER_GRACE_S:.0f} s",
            not alive,
            f"{len(alive)} alive: {', '.join(titles)}",
        )
        for proc in alive:  # ours (started by the command), so the benchmark cleans up
            if is_running(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        self.ledger.counts["leftover_processes"] += len(alive)

    def stop_all(self) -> None:
        for job in self.jobs:
            if job.poll() is None:
                job.signal_group(signal.SIGKILL)
                job.process.wait()
                self._no_leftovers(job)


# ----------------------------------------------------------------------------------- files
def json_problem(path: Path) -> str:
    """Why ``path`` is not a readable strict JSON file ('' if it is)."""
    try:
        strict_json(path)
    except (OSError, ValueError) as exc:
        return f"{path.name}: {exc}"
    return ""


@dataclass(frozen=True)
class Checkpoint:
    timesteps: int
    mtime_ns: int


def checkpoint(run: Path) -> Checkpoint | None:
    path = run / "checkpoints" / "latest.zip"
    timesteps = checkpoint_timesteps(path)
    try:
        return None if timesteps is None else Checkpoint(timesteps, path.stat().st_mtime_ns)
    except OSError:  # replaced between the two reads
        return None


def temporary_files(folder: Path) -> list[str]:
    """What an interrupted atomic save leaves (``.NAME.*.tmp``, ``.STEM.*.zip``) under folder."""
    pattern = re.compile(r"^\..+\.[^.]+\.(tmp|zip)$")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if pattern.match(p.name))


def signal_plan(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` signals, each kind in turn, in an order drawn from ``rng``."""
    cycles = [str(s) for _ in range(math.ceil(count / 2)) for s in rng.permutation(SIGNALS)]
    return cycles[:count]


def draw_delay(rng: np.random.Generator, args: argparse.Namespace) -> float:
    low, high = args.kill_delay
    return float(rng.uniform(low, high))


# ----------------------------------------------------------------------------------- train
TRAINING = re.compile(r"training MaskablePPO on \S+: (\d+) -> (\d+) timesteps")


def train_part(ctx: Context, rng: np.random.Generator) -> None:
    """Kill ``simic train --n-envs 2`` (the whole group) and resume it until it finishes."""
    run, total = ctx.work / "run", ctx.args.train_timesteps
    first = ["train", "--out", str(run), "--n-envs", "2", "--timesteps", str(total)]
    first += ["--checkpoint-every", str(ctx.args.checkpoint_every), "--no-progress", *TRAIN_ARGS]
    resume = ["train", "--resume", str(run), "--timesteps", str(total), "--no-progress"]
    argv, expected = first, 0
    for index, sig in enumerate(signal_plan(rng, ctx.args.train_kills)):
        job = ctx.start(f"train-{index}", argv)
        _training_starts(ctx, job, expected, resumed=index > 0)
        delay = _after_a_fresh_checkpoint(ctx, rng, job, run / "checkpoints" / "latest.zip")
        before = checkpoint(run)
        ctx.kill(job, sig, delay)
        ctx.ledger.counts[f"train_{sig.lower()}"] += 1
        expected = _after_train_kill(ctx, job, sig, run, before)
        argv = resume
    _train_to_the_end(ctx, run, argv, expected)


def _after_a_fresh_checkpoint(
    ctx: Context, rng: np.random.Generator, job: Job, path: Path
) -> float:
    """Wait until ``job`` has written a checkpoint, then a drawn delay; the delay.

    A resumed run is killed only after it made progress of its own, so each resume is tested
    on a checkpoint that moved."""
    written = ctx.until(
        job, lambda: path.exists() and path.stat().st_mtime > job.started, "a checkpoint"
    )
    delay = draw_delay(rng, ctx.args)
    landed = written and ctx.sleep(job, delay)
    ctx.require(landed, f"{job.name} was still training at its kill moment", job.tail())
    return delay


def _training_starts(ctx: Context, job: Job, expected: int, resumed: bool) -> None:
    """The job begins training, a resumed one at ``expected`` (its checkpoint's timestep)."""
    found = ctx.until(job, lambda: TRAINING.search(job.output()) is not None, "training start")
    what = "resumed" if resumed else "started"
    ctx.require(found, f"{job.name} {what} training", job.tail())
    start = int(TRAINING.search(job.output())[1])  # type: ignore[index]
    if resumed:
        ctx.ledger.check(
            f"{job.name} continues at its checkpoint's {expected} timesteps",
            start == expected,
            f"it started at {start}",
        )


def _after_train_kill(
    ctx: Context, job: Job, sig: str, run: Path, before: Checkpoint | None
) -> int:
    """Check how the killed run ended; the timestep its resume must continue at."""
    status = ctx.ended(job)
    output = job.output()
    after = checkpoint(run)
    ctx.require(after is not None, f"a loadable checkpoint after {sig}", job.tail())
    assert after is not None  # for the type checker: require() stopped otherwise
    if sig == "SIGKILL":
        ctx.ledger.check(f"{job.name} died of SIGKILL", status == -signal.SIGKILL, f"{status}")
        return after.timesteps
    ctx.ledger.check(f"{job.name}: SIGTERM exits with 143", status == 143, f"exit {status}")
    errors = sorted(set(re.findall(r"^(\w+(?:Error|Exception)\b.*)$", output, re.M)))
    ctx.ledger.check(
        f"{job.name}: no traceback printed after SIGTERM",
        "Traceback" not in output,
        f"{output.count('Traceback')} tracebacks: {'; '.join(errors)[:300]}",
    )
    said = re.search(r"terminated at (\d+) timesteps; checkpoint saved", output)
    saved = (
        said is not None
        and int(said[1]) == after.timesteps
        and before is not None
        and after.timesteps >= before.timesteps
        and after.mtime_ns > before.mtime_ns
    )
    detail = f"before {before}, after {after}, said {said[0] if said else job.tail()!r}"
    ctx.ledger.check(f"{job.name}: SIGTERM saves a checkpoint at the interrupt", saved, detail)
    return after.timesteps


def _train_to_the_end(ctx: Context, run: Path, argv: list[str], expected: int) -> None:
    total = ctx.args.train_timesteps
    job = ctx.start("train-final", argv)
    _training_starts(ctx, job, expected, resumed=argv[1] == "--resume")
    status = ctx.wait(job, "the run finishing")
    ctx.ended(job, signalled=False)
    ctx.require(status == 0, "the final resume finishes", f"exit {status}: {job.tail()}")
    model = run / "model.zip"
    steps = zip_data(model)["num_timesteps"] if model.is_file() else None
    ctx.ledger.check(
        f"model.zip is at {total} timesteps (less than one rollout over)",
        steps is not None and total <= steps < total + ROLLOUT,
        f"model.zip at {steps}",
    )
    ctx.ledger.check("no temporary files left in the run", not temporary_files(run))
    again = ctx.start("train-again", argv)  # the folder can be claimed once more: no stale lock
    status = ctx.wait(again, "the finished run being opened again")
    ctx.ended(again, signalled=False)
    ctx.ledger.check(
        "the finished run opens again (nothing to do)",
        status == 0 and "nothing to do" in again.output(),
        f"exit {status}: {again.tail()}",
    )


# ----------------------------------------------------------------------------------- evaluate
def evaluate_part(ctx: Context, rng: np.random.Generator) -> None:
    """Kill ``simic evaluate --n-envs 2 --out E`` (the group) and run it again into E."""
    out, episodes = ctx.work / "evaluation", ctx.args.evaluate_episodes
    argv = ["evaluate", *(a for p in EVALUATE_POLICIES for a in ("--policy", p))]
    argv += ["--episodes", str(episodes), "--seed", "1000", "--out", str(out), "--n-envs", "2"]
    argv += ["--env-kwargs", f"budget={ctx.args.evaluate_budget}"]
    for index, sig in enumerate(signal_plan(rng, ctx.args.evaluate_kills)):
        job = _evaluation_killed_midway(ctx, rng, f"evaluate-{index}", argv, sig)
        status = ctx.ended(job)
        ctx.ledger.counts[f"evaluate_{sig.lower()}"] += 1
        if sig == "SIGKILL":
            ctx.ledger.check(f"{job.name} died of SIGKILL", status == -signal.SIGKILL, f"{status}")
        else:
            _check_partial(ctx, job, status, out)
    job = ctx.start("evaluate-final", argv)
    status = ctx.wait(job, "the evaluation finishing")
    ctx.ended(job, signalled=False)
    ctx.require(status == 0, "the evaluation run again finishes", f"exit {status}: {job.tail()}")
    _check_evaluation_folder(ctx, out, job.started, list(range(1000, 1000 + episodes)))


def _evaluation_killed_midway(
    ctx: Context, rng: np.random.Generator, name: str, argv: list[str], sig: str
) -> Job:
    """A run killed with ``sig`` while it plays; one that finishes first is run again with a
    shorter delay (running it again into the same folder is what the part tests anyway)."""
    for attempt in range(4):
        job = ctx.start(f"{name}.{attempt}" if attempt else name, argv)
        playing = ctx.until(job, lambda j=job: "evaluating " in j.output(), "evaluation start")
        ctx.require(playing, f"{job.name} starts playing", job.tail())
        delay = draw_delay(rng, ctx.args) / 2**attempt
        if ctx.sleep(job, delay):
            ctx.kill(job, sig, delay)
            return job
        ctx.ended(job, signalled=False)
        ctx.ledger.counts["evaluate_finished_before_the_kill"] += 1
    ctx.require(False, f"{name} was still playing at a kill moment")
    raise AssertionError  # unreachable: require(False) raised


def _check_partial(ctx: Context, job: Job, status: int | None, out: Path) -> None:
    """After SIGTERM: status 143 and the finished episodes kept in strict JSON, marked partial."""
    ctx.ledger.check(f"{job.name}: SIGTERM exits with 143", status == 143, f"exit {status}")
    results = out / "results.json"
    problem = json_problem(results) if results.is_file() else "no results.json"
    ctx.ledger.check(f"{job.name}: partial results.json is strict JSON", not problem, problem)
    if not problem:
        partial = strict_json(results).get("partial")
        fresh = results.stat().st_mtime > job.started
        ctx.ledger.check(f"{job.name}: its results.json says partial", partial is True and fresh)


def _check_evaluation_folder(ctx: Context, out: Path, since: float, seeds: list[int]) -> None:
    problem = json_problem(out / "results.json")
    ctx.require(not problem, "the final results.json is strict JSON", problem)
    data = strict_json(out / "results.json")
    played = {p["policy"]: sorted(e["seed"] for e in p["episodes"]) for p in data["policies"]}
    ctx.ledger.check(
        "results.json is complete: every policy played every seed once",
        data["partial"] is False and played == {p: seeds for p in EVALUATE_POLICIES},
        f"partial={data['partial']}, seeds {played}",
    )
    with (out / "episodes.csv").open() as handle:
        rows = sorted(
            (r["policy"], int(r["seed"]), float(r["return"])) for r in csv.DictReader(handle)
        )
    episodes = sorted(
        (p["policy"], e["seed"], float(e["return"]))
        for p in data["policies"]
        for e in p["episodes"]
    )
    ctx.ledger.check("episodes.csv holds exactly the episodes of results.json", rows == episodes)
    names = {p.name for p in out.iterdir()}
    odd = sorted(names - EVALUATE_FILES - {LOCK_FILE})
    ctx.ledger.check("the folder holds only the evaluation's files", not odd, f"also {odd}")
    ctx.ledger.check("every output is there", names >= EVALUATE_FILES, f"{sorted(names)}")
    old = sorted(n for n in names & EVALUATE_FILES if (out / n).stat().st_mtime < since - 0.1)
    ctx.ledger.check("every file comes from the final run", not old, f"older: {old}")
    ctx.ledger.check("the folder is not left locked", not lock_held(out))


# ----------------------------------------------------------------------------------- sweep
def ray_workers(job: Job) -> list[Proc]:
    """The Ray worker processes under the sweep driver (trial actors show ``ImplicitFunc``)."""
    return sorted(
        (
            p
            for p in job.watch()
            if p.title.startswith("ray::") and not p.title.startswith(RAY_AGENTS)
        ),
        key=lambda p: p.pid,
    )


def sweep_part(ctx: Context, rng: np.random.Generator) -> None:
    """Kill Ray workers and the driver of ``simic sweep``; ``--resume`` until it finishes."""
    config = ctx.work / "chaos_sweep.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(SWEEP_CONFIG))
    storage = ctx.work / "storage"
    argv = ["sweep", str(config), "--storage", str(storage)]
    workers, drivers = ctx.args.sweep_worker_kills, ctx.args.sweep_driver_kills
    for index in range(MAX_SWEEP_RUNS):
        job = ctx.start(f"sweep-{index}", argv)
        workers -= _kill_workers(ctx, rng, job, workers)
        # The driver dies in a resumed sweep, once the first run has shown that the trials
        # killed in it resume.
        if index and not workers and drivers and _kill_driver(ctx, rng, job):
            drivers -= 1
        ctx.wait(job, "the sweep ending")
        status = ctx.ended(job, signalled=False)
        if status == 0:  # complete (kills still planned cannot land any more)
            break
        # 2 is a user error: a resume refused (a stale lock, say), which a user is stuck at.
        ctx.require(status != 2, f"{job.name} runs (or resumes) the sweep", job.tail())
        argv = ["sweep", str(config), "--storage", str(storage), "--resume"]
    ctx.ledger.check(
        "every planned kill landed before the sweep finished",
        not workers and not drivers,
        f"{workers} worker and {drivers} driver kills left",
    )
    ctx.require(status == 0, "the sweep completes", f"exit {status}")
    _check_sweep(ctx, storage)


def _kill_workers(ctx: Context, rng: np.random.Generator, job: Job, count: int) -> int:
    """SIGKILL up to ``count`` Ray workers, each a drawn delay after a trial actor is up; how
    many were killed before the sweep ended."""
    killed: set[tuple[int, int]] = set()
    for _ in range(count):

        def trial_up() -> bool:
            return any(
                "ImplicitFunc" in p.title and (p.pid, p.start) not in killed
                for p in ray_workers(job)
            )

        if not ctx.until(job, trial_up, "a trial running") or not ctx.sleep(
            job, delay := draw_delay(rng, ctx.args)
        ):
            break
        candidates = [p for p in ray_workers(job) if (p.pid, p.start) not in killed]
        if not candidates:
            break
        target = candidates[int(rng.integers(len(candidates)))]
        ctx.kill(job, "SIGKILL", delay, target)
        killed.add((target.pid, target.start))
        kind = "trial" if "ImplicitFunc" in target.title else "ray_worker"
        ctx.ledger.counts[f"sweep_{kind}_kills"] += 1
    return len(killed)


def _kill_driver(ctx: Context, rng: np.random.Generator, job: Job) -> bool:
    """SIGKILL the driver alone (a lost head node), a drawn delay after a trial is up."""

    def trial_up() -> bool:
        return any("ImplicitFunc" in p.title for p in ray_workers(job))

    if not ctx.until(job, trial_up, "a trial running"):
        return False
    if not ctx.sleep(job, delay := draw_delay(rng, ctx.args)):
        return False
    driver = read_proc(job.pid)
    if driver is None:
        return False
    ctx.kill(job, "SIGKILL", delay, driver)
    ctx.ledger.counts["sweep_driver_kills"] += 1
    return True


def _check_sweep(ctx: Context, storage: Path) -> None:
    problem = json_problem(storage / "sweep.json")
    ctx.require(not problem, "sweep.json is strict JSON", problem)
    data = strict_json(storage / "sweep.json")
    trials = [row for row in data["rows"] if row["kind"] == "trial"]
    names = [row["name"] for row in trials]
    ctx.ledger.counts["trials_completed"] = sum(row["status"] == "done" for row in trials)
    expected = len(SWEEP_CONFIG["seeds"]) * 2
    ctx.ledger.check(
        f"sweep.json lists {expected} trials, each once, all done",
        data["partial"] is False
        and len(names) == len(set(names)) == expected
        and all(row["status"] == "done" for row in trials),
        f"{[(row['name'], row['status']) for row in trials]}",
    )
    with (storage / "sweep.csv").open() as handle:
        listed = [r["name"] for r in csv.DictReader(handle) if r["kind"] == "trial"]
    ctx.ledger.check("sweep.csv lists the same trials, each once", sorted(listed) == sorted(names))
    folders = sorted(p.name for p in storage.glob("trial_*") if p.is_dir())
    ctx.ledger.check("no trial folder beyond those listed", folders == sorted(names), f"{folders}")
    for row in trials:
        _check_trial(ctx, storage / row["name"], row)
    leftovers = temporary_files(storage)
    ctx.ledger.check("no temporary files left in the sweep", not leftovers, f"{leftovers}")
    held = [p.parent.name for p in storage.rglob(LOCK_FILE) if lock_held(p.parent)]
    ctx.ledger.check("no folder of the sweep is left locked", not held, f"{held}")


def _check_trial(ctx: Context, folder: Path, row: dict[str, Any]) -> None:
    """The trial's config, model and evaluation belong to one attempt, and it trained once."""
    run, name = folder / "run", folder.name
    config = json.loads((run / "config.json").read_text())
    settings = {"seed": config["seed"], "ppo.ent_coef": config["ppo"]["ent_coef"]}
    model = run / "model.zip"
    data = zip_data(model) if model.is_file() else {}
    timesteps = SWEEP_CONFIG["timesteps"]
    ctx.ledger.check(
        f"{name}: config, model and settings agree",
        settings == row["settings"]
        and config["timesteps"] == timesteps
        and config["out"] == str(run)
        and data.get("num_timesteps") == timesteps
        and data.get("seed") == config["seed"]
        and data.get("ent_coef") == config["ppo"]["ent_coef"],
        f"row {row['settings']}, config {settings} at {config['timesteps']}, model "
        f"{data.get('num_timesteps')} steps seed {data.get('seed')}",
    )
    results = folder / "evaluation" / "results.json"
    problem = json_problem(results) if results.is_file() else "no results.json"
    if not ctx.ledger.check(f"{name}: its evaluation is strict JSON", not problem, problem):
        return
    evaluation = strict_json(results)
    (entry,) = evaluation["policies"]
    ctx.ledger.check(
        f"{name}: the evaluation is of this model, after it was saved, as sweep.json reports",
        entry["policy"] == str(model)
        and evaluation["partial"] is False
        and results.stat().st_mtime_ns >= model.stat().st_mtime_ns
        and math.isclose(entry["summary"]["return"]["mean"], row["return"]["mean"]),
        f"{entry['policy']} partial={evaluation['partial']}",
    )
    log = (folder / "trial.log").read_text()
    done = len(re.findall(rf"^done: {timesteps} timesteps", log, re.M))
    ctx.ledger.check(f"{name}: training finished exactly once", done == 1, f"{done} times")


# ----------------------------------------------------------------------------------- main
PART_FUNCTIONS: dict[str, Callable[[Context, np.random.Generator], None]] = {
    "train": train_part,
    "evaluate": evaluate_part,
    "sweep": sweep_part,
}


def run_parts(args: argparse.Namespace, work: Path, ledger: Ledger) -> None:
    """Each part in turn, with its share of the time left and its own generator."""
    deadline = time.time() + args.budget_s
    generators = dict(zip(PARTS, np.random.default_rng(args.seed).spawn(len(PARTS)), strict=True))
    for index, part in enumerate(args.parts):
        left = deadline - time.time()
        share = SHARES[part] / sum(SHARES[p] for p in args.parts[index:])
        ctx = Context(ledger, work / part, time.time() + left * share, args)
        ledger.part = part
        print(f"{part}: {left * share:.0f} s of {left:.0f} s left", flush=True)
        started = time.time()
        with _stopped_cleanly(ctx):
            PART_FUNCTIONS[part](ctx, generators[part])
        ledger.walls[part] = round(time.time() - started, 1)


@contextlib.contextmanager
def _stopped_cleanly(ctx: Context) -> Iterator[None]:
    """A part that stops (or fails in the benchmark itself) leaves no process running."""
    try:
        yield
    except PartStoppedError:
        pass
    except Exception as exc:  # a bug or an unexpected file: recorded, the other parts still run
        ctx.ledger.check("the part ran to its end", False, f"{type(exc).__name__}: {exc}")
    finally:
        ctx.stop_all()


def report(args: argparse.Namespace, work: Path, ledger: Ledger, wall: float) -> dict[str, Any]:
    failed = ledger.failed()
    counts = dict(sorted(ledger.counts.items()))
    counts["checks_passed"] = len(ledger.checks) - len(failed)
    counts["checks_failed"] = len(failed)
    commit = git(ROOT, "rev-parse", "HEAD")
    return {
        "seed": args.seed,
        "budget_s": args.budget_s,
        "parts": list(args.parts),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "work")},
        "sweep_config": SWEEP_CONFIG,
        "work": str(work),
        "commit": commit,
        "cpu_count": os.cpu_count(),
        "wall_s": round(wall, 1),
        "part_wall_s": ledger.walls,
        "counts": counts,
        "passed": not failed,
        "failures": [f"{c['part']}: {c['check']} ({c['detail']})" for c in failed],
        "kills": ledger.kills,
        "commands": ledger.jobs,
        "checks": ledger.checks,
    }


def summary(result: dict[str, Any]) -> str:
    """One row per part: its kills, resumes, checks passed and failed, and wall time."""
    kills = Counter(k["part"] for k in result["kills"])
    counts = result["counts"]
    resumes = {
        "train": counts.get("train_resumes", 0),
        "evaluate": counts.get("evaluate_reruns", 0) + counts.get("evaluate_resumes", 0),
        "sweep": counts.get("sweep_resumes", 0),
    }
    lines = [f"{'part':<9} {'kills':>5} {'resumes':>7} {'passed':>6} {'failed':>6} {'wall s':>7}"]
    for part in result["parts"]:
        checks = [c for c in result["checks"] if c["part"] == part]
        bad = sum(not c["passed"] for c in checks)
        wall = result["part_wall_s"].get(part, 0.0)
        lines.append(
            f"{part:<9} {kills[part]:>5} {resumes[part]:>7} {len(checks) - bad:>6} {bad:>6} "
            f"{wall:>7.0f}"
        )
    lines.append(
        f"trials completed: {counts.get('trials_completed', 0)}; wall {result['wall_s']} s"
    )
    lines += [f"FAILED {line}" for line in result["failures"]]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0, help="seeds the kill moments (default 0)")
    p.add_argument(
        "--budget-s",
        type=float,
        default=900.0,
        help="the parts stop at this (default 900); a command already signalled still gets "
        "its exit grace, and what it started the leftover grace",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=ROOT / "runs" / "chaos",
        help="a fresh folder per invocation is made under it (default runs/chaos)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "chaos.json")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument(
        "--kill-delay",
        nargs=2,
        type=float,
        default=(0.5, 8.0),
        metavar=("LO", "HI"),
        help="seconds between a kill's trigger and the kill, drawn uniformly",
    )
    p.add_argument(
        "--exit-grace-s",
        type=float,
        default=EXIT_GRACE_S,
        help="a signalled command still running after this has hung (default 120)",
    )
    p.add_argument("--train-kills", type=int, default=4, help="SIGKILL and SIGTERM in turn")
    p.add_argument("--train-timesteps", type=int, default=4096)
    p.add_argument("--checkpoint-every", type=int, default=96)
    p.add_argument("--evaluate-kills", type=int, default=2, help="SIGKILL and SIGTERM in turn")
    p.add_argument("--evaluate-episodes", type=int, default=12)
    p.add_argument("--evaluate-budget", type=int, default=10, help="env steps per episode")
    p.add_argument("--sweep-worker-kills", type=int, default=3)
    p.add_argument("--sweep-driver-kills", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    work = args.work.resolve() / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{args.seed}-{os.getpid()}"
    print(f"chaos: seed {args.seed}, budget {args.budget_s:.0f} s, work folder {work}", flush=True)
    ledger = Ledger()
    started = time.time()
    run_parts(args, work, ledger)
    result = report(args, work, ledger, time.time() - started)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(summary(result))
    print(f"wrote {args.out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
