"""How simic scales on Ray (issue 11): RLlib env runners, and a sweep against one-after-another.

Two measurements, each run as the user would run it (``simic`` subprocesses, a local Ray with
this machine's cores), side by side in one invocation:

1. ``simic train --engine rllib`` with 1 and with 2 env runners on the default env: steps/s of
   every iteration but the first (from the run's ``progress.jsonl``; it includes learning);
2. a 4-trial ``simic sweep`` (4 training seeds, one CPU each) against the same 4 trainings and
   evaluations run one after another with ``simic train`` + ``simic evaluate``: wall time.

Results: ``benchmarks/results/ray_scaling.json`` and ``.md`` (written atomically), with the
load average before and after (the numbers mean little on a busy machine).

Usage (needs the [ray] extra)::

    python -m benchmarks.ray_scaling [--rllib-timesteps 1024] [--sweep-timesteps 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import procs
from envs.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
ENV_KWARGS = {"budget": 25}
PPO = {"n_steps": 128, "batch_size": 64, "n_epochs": 4}
SEEDS = (0, 1, 2, 3)
EVAL = {"episodes": 4, "seed": 1000}


def _simic(*args: str) -> float:
    """Run ``simic ARGS`` to the end; its wall time (raises with its output on failure)."""
    done = procs.run(procs.simic_argv(*args))
    if done.returncode != 0:
        raise SystemExit(f"simic {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    return done.wall_s


def _kwargs() -> list[str]:
    return ["--env-kwargs", *(f"{k}={v}" for k, v in ENV_KWARGS.items())]


def _ppo() -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in PPO.items()]


def rllib(runners: int, timesteps: int, root: Path) -> dict[str, Any]:
    """steps/s of every iteration after the first, with ``runners`` env runners."""
    run = root / f"rllib_{runners}"
    wall = _simic(
        "train", "--engine", "rllib", "--num-env-runners", str(runners),
        "--timesteps", str(timesteps), "--eval-every", "0", "--out", str(run), "--no-progress",
        *_kwargs(), *_ppo(),
    )  # fmt: skip
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    rates = [r["steps_per_s"] for r in rows[1:] if r.get("steps_per_s")]
    return {
        "env_runners": runners,
        "iterations": len(rows),
        "steps_per_s_per_iteration": rates,
        "steps_per_s_median": statistics.median(rates) if rates else None,
        "timesteps": rows[-1]["timesteps"],
        "wall_s": wall,
    }


def sweep_vs_sequential(timesteps: int, root: Path) -> dict[str, Any]:
    """Wall time of a 4-trial sweep, and of its 4 trainings + evaluations one after another."""
    config = {
        "env": "simic/Grow-MNIST1D-v0",
        "env_kwargs": ENV_KWARGS,
        "timesteps": timesteps,
        "eval_every": 0,
        "ppo": PPO,
        "seeds": list(SEEDS),
        "evaluation": {**EVAL, "baselines": ["nogrow"]},
        "resources": {"cpu": 1},
    }
    file = root / "sweep.yaml"
    file.write_text(yaml.safe_dump(config))
    sweep_s = _simic("sweep", str(file), "--storage", str(root / "sweep"))
    sequential_s = 0.0
    for seed in SEEDS:
        run = root / f"seq_{seed}"
        sequential_s += _simic(
            "train", "--timesteps", str(timesteps), "--seed", str(seed), "--eval-every", "0",
            "--out", str(run), "--no-progress", *_kwargs(), *_ppo(),
        )  # fmt: skip
        sequential_s += _simic(
            "evaluate", "--policy", str(run / "model.zip"), "--episodes", str(EVAL["episodes"]),
            "--seed", str(EVAL["seed"]), *_kwargs(),
        )  # fmt: skip
    sequential_s += _simic(
        "evaluate",
        "--policy",
        "nogrow",
        "--episodes",
        str(EVAL["episodes"]),
        "--seed",
        str(EVAL["seed"]),
        *_kwargs(),
    )  # fmt: skip  (the sweep evaluates its baseline once)
    return {
        "trials": len(SEEDS),
        "timesteps": timesteps,
        "sweep_s": sweep_s,
        "sequential_s": sequential_s,
        "speedup": sequential_s / sweep_s,
    }


def markdown(result: dict[str, Any]) -> str:
    r1, r2 = result["rllib"]
    sw = result["sweep"]
    return "\n".join(
        [
            "# Ray scaling (2 cores)",
            "",
            f"Load average before {result['load_before']}, after {result['load_after']}.",
            "",
            "| `simic train --engine rllib` | median steps/s (iterations 2..) | wall |",
            "|---|---:|---:|",
            *(
                f"| {r['env_runners']} env runner(s) | {r['steps_per_s_median']} | "
                f"{r['wall_s']:.0f} s |"
                for r in (r1, r2)
            ),
            "",
            f"{sw['trials']}-trial `simic sweep` ({sw['timesteps']} steps each, train + "
            f"evaluate): {sw['sweep_s']:.0f} s; the same one after another: "
            f"{sw['sequential_s']:.0f} s ({sw['speedup']:.2f}×).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rllib-timesteps", type=int, default=1024)
    parser.add_argument("--sweep-timesteps", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_scaling.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {
            "load_before": [round(v, 2) for v in load_before],
            "rllib": [rllib(n, args.rllib_timesteps, root) for n in (1, 2)],
            "sweep": sweep_vs_sequential(args.sweep_timesteps, root),
            "cpu_count": os.cpu_count(),
        }
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), markdown(result) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
