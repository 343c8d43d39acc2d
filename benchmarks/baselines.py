"""How do the baseline policies do? Every one of them (and any saved PPO agent) over many seeds.

Policies: the built-in ``simic.policies`` baselines (heuristic, random, nogrow, growall), the
reference script of ``benchmarks/growth_pays.py`` (``script``: conv_light, or mlp_small on
transformers, into the last slot at the first step, fossilized when allowed), and every
``--policy PATH.zip`` saved by MaskablePPO.

Prints per policy the mean final test accuracy with its 95% confidence interval (t
distribution), the paired difference to ``nogrow``, the mean return (validation gain minus the
parameter rent) with its interval, the final parameter growth and the seeds germinated,
fossilized and pruned per episode. Evaluation seeds start at 1000, away from the seeds the
heuristic was tuned on (0-19). Usage::

    python -m benchmarks.baselines [--env simic/Grow-MNIST1D-v0] [--seeds 10] [--first-seed 1000]
        [--policy agent.zip] [--only heuristic nogrow] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the environment ids, also in worker processes)
from envs.actions import ActionKind
from kasmina import SeedStage
from simic.common.stats import mean_ci
from simic.policies import (
    POLICY_NAMES,
    WAIT_INDEX,
    EpisodeResult,
    MaskedPolicy,
    Policy,
    make_policy,
    run_episode,
)

SCRIPT = "script"


class ScriptedPolicy(MaskedPolicy):
    """The reference script of ``growth_pays.py``, read from observations instead of the model.

    GERMINATE conv_light (mlp_small where there is no conv_light) into the last slot at the
    first step, FOSSILIZE it when it is HOLDING, then WAIT.
    """

    name = SCRIPT

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        blueprints = self.codec.blueprints
        self.blueprint = "conv_light" if "conv_light" in blueprints else "mlp_small"
        self.slot = self.slots[-1]
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._germinated = False

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        stage = self.read(observation).slots[self.slot].stage
        if stage is SeedStage.HOLDING:
            return self.action(ActionKind.FOSSILIZE, self.slot)
        if not self._germinated and stage is SeedStage.DORMANT:
            self._germinated = True  # once: the script never regrows
            return self.action(ActionKind.GERMINATE, self.slot, self.blueprint)
        return WAIT_INDEX


@dataclass(frozen=True)
class Job:
    """All episodes of one policy (a picklable unit of work for a worker process)."""

    env_id: str
    env_kwargs: tuple[tuple[str, Any], ...]
    policy: str
    seeds: tuple[int, ...]


def build_policy(spec: str, env: gym.Env) -> Policy:
    return ScriptedPolicy(env) if spec == SCRIPT else make_policy(spec, env)


def run_job(job: Job) -> list[EpisodeResult]:
    env = gym.make(job.env_id, **dict(job.env_kwargs))
    policy = build_policy(job.policy, env)
    return [run_episode(env, policy, seed) for seed in job.seeds]


def run_jobs(jobs: Sequence[Job], workers: int) -> list[list[EpisodeResult]]:
    """Every job's episodes; with several workers each job's seeds are split between them."""
    if workers <= 1:
        return [run_job(job) for job in jobs]
    parts = [
        Job(j.env_id, j.env_kwargs, j.policy, j.seeds[w::workers])
        for j in jobs
        for w in range(workers)
    ]
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(run_job, parts))
    results = []
    for i in range(len(jobs)):
        merged = [r for part in done[i * workers : (i + 1) * workers] for r in part]
        results.append(sorted(merged, key=lambda r: r.seed))
    return results


def report_line(label: str, rows: list[EpisodeResult], baseline: list[EpisodeResult]) -> str:
    acc = mean_ci([100 * r.test_accuracy for r in rows])
    diff = mean_ci(
        [100 * (r.test_accuracy - b.test_accuracy) for r, b in zip(rows, baseline, strict=True)]
    )
    ret = mean_ci([r.return_ for r in rows])
    growth = statistics.fmean(r.param_growth for r in rows)
    counts = "/".join(
        f"{statistics.fmean(getattr(r, f'seeds_{k}') for r in rows):.1f}"
        for k in ("germinated", "fossilized", "pruned")
    )
    return (
        f"  {label:18} {acc.mean:5.1f} ± {acc.half_width:4.1f}  "
        f"{diff.mean:+5.1f} ± {diff.half_width:4.1f}  "
        f"{ret.mean:+.3f} ± {ret.half_width:.3f}  {growth:6.2f}  {counts}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="simic/Grow-MNIST1D-v0")
    parser.add_argument("--seeds", type=int, default=10, help="episodes per policy (default 10)")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*POLICY_NAMES, SCRIPT],
        default=[*POLICY_NAMES, SCRIPT],
        help="built-in policies to run (default: all, and the script)",
    )
    parser.add_argument(
        "--policy", action="append", default=[], metavar="PATH", help="a MaskablePPO .zip"
    )
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--budget", type=int, help="override the env's budget (smoke runs)")
    parser.add_argument("--batches-per-step", type=int, help="override batches per step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"budget": args.budget, "batches_per_step": args.batches_per_step}
    env_kwargs = tuple((k, v) for k, v in overrides.items() if v is not None)
    for path in args.policy:  # fail before the long run on a bad file or mismatched spaces
        make_policy(path, gym.make(args.env, **dict(env_kwargs)))
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    specs = list(dict.fromkeys(["nogrow", *args.only, *args.policy]))  # nogrow: the baseline
    start = time.perf_counter()
    results = run_jobs([Job(args.env, env_kwargs, s, seeds) for s in specs], args.workers)
    settings = f" {dict(env_kwargs)}" if env_kwargs else ""
    print(
        f"{args.env}{settings}: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), "
        f"{time.perf_counter() - start:.0f} s"
    )
    print(
        f"  {'policy':18} {'test acc %':>12}  {'- nogrow':>12}  {'return':>13}  "
        f"{'growth':>6}  germ/foss/prun"
    )
    by_spec = dict(zip(specs, results, strict=True))
    for rows in by_spec.values():
        print(report_line(rows[0].policy, rows, by_spec["nogrow"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
