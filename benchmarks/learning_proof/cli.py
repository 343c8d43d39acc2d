"""``python -m benchmarks.learning_proof``: run the proof's jobs, then write its report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchmarks.learning_proof as proof
from benchmarks.common.jobs import JobFailedError, Runner
from benchmarks.learning_proof import layout
from benchmarks.learning_proof.jobs import eval_jobs, finished, train_jobs
from benchmarks.learning_proof.report import write_report
from simic.common.signals import sigterm_interrupts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.learning_proof",
        description=(proof.__doc__ or "").split("\n")[0],
    )
    parser.add_argument("--config", type=Path, default=layout.RECIPE, help="the PPO recipe")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=30, help="held-out seeds per instance")
    parser.add_argument("--seed", type=int, default=5000, help="first held-out episode seed")
    parser.add_argument("--parallel", type=int, default=2, help="jobs at once (one core each)")
    parser.add_argument("--timesteps", type=int, default=None, help="override the recipe's")
    parser.add_argument("--report-only", action="store_true", help="only redraw the report")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.report_only and not _evaluated(args.runs):
        print(
            f"learning_proof: no finished evaluation under {layout.EVALS} (the raw evaluations "
            "are not committed): nothing to redraw the report from; the committed one is kept",
            file=sys.stderr,
        )
        return 2
    if not args.report_only:
        status = run_jobs(args)
        if status != 0:
            return status
    write_report(args, None if args.report_only else time.perf_counter() - started)
    return 0


def _evaluated(runs: int) -> bool:
    """Whether any evaluation the report reads has finished."""
    policies = [*layout.BASELINES, *layout.run_names(runs)]
    return any(finished(layout.eval_folder(f, p)) for f in layout.FAMILIES for p in policies)


def run_jobs(args: argparse.Namespace) -> int:
    """Every training and evaluation not done yet; 0 once all are, else the exit status."""
    runner = Runner(args.parallel, layout.LOGS)
    jobs = [
        *train_jobs(args.config, args.runs, args.timesteps),
        *eval_jobs(args.runs, args.episodes, args.seed),
    ]
    try:
        with sigterm_interrupts():
            for job in jobs:
                runner.submit(job)
            runner.wait()
    except KeyboardInterrupt:
        print("interrupted: finished trainings and evaluations are kept; rerun to go on")
        return 130
    except JobFailedError as exc:
        for failure in exc.failures:
            print(f"learning_proof: {failure}", file=sys.stderr)
        return 1
    return 0
