"""The learning proof: PPO against every baseline on a task family, with paired 95% intervals.

One command, resumable at every stage (rerun it after an interruption):

1. **train** ``--runs`` PPO runs (training seeds 1..R) with the recipe ``--config`` on the
   training family, each into ``benchmarks/results/proof_runs/run<k>/`` (a run that exists is
   resumed; a finished one is kept);
2. **evaluate** every run and every baseline on ``--episodes`` held-out episode seeds per
   instance (seeds ``--seed`` .., below 10**9: disjoint from training and tuning seeds), on the
   training family and on the held-out family, through ``simic evaluate`` (an evaluation whose
   results exist is kept);
3. **report** paired differences PPO - baseline per instance and for the family average (the
   mean over instances), per run and pooled over runs, as mean and 95% t-interval over the
   paired per-seed differences; test accuracy the same way. Written to
   ``benchmarks/results/learning_proof.json`` and ``.md`` and ``learning_proof.png``, with the
   wall time of every stage. The trained models are copied to
   ``benchmarks/results/models/run<k>.zip`` beside the recipe that made them.

The per-instance baselines (``schedule-best``, ``heuristic-tuned``) read the tables that
``python -m benchmarks.tune_baselines`` made on training seeds.

Usage::

    python -m benchmarks.learning_proof [--runs 3] [--episodes 30] [--config RECIPE.yaml]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.envutil import load_config_file
from simic.evaluate import EvaluateConfig, evaluate
from simic.stats import mean_ci
from simic.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RUNS = RESULTS / "proof_runs"
MODELS = RESULTS / "models"
RECIPE = HERE / "configs" / "family_recipe.yaml"
TRAINING_FAMILY = "simic/Grow-Family-v0"
HELD_OUT_FAMILY = "simic/Grow-Family-HeldOut-v0"
BASELINES = ("heuristic", "heuristic-tuned", "schedule-best", "random", "nogrow", "growall")


def train_runs(recipe: Path, runs: int, timesteps: int | None) -> dict[str, float]:
    """Train (or resume, or keep) every run; returns the wall time of each."""
    times = {}
    for k in range(1, runs + 1):
        run = RUNS / f"run{k}"
        data = load_config_file(recipe)
        data.update({"seed": k, "out": str(run), "progress_bar": False})
        if timesteps is not None:
            data["timesteps"] = timesteps
        config = TrainConfig.from_mapping(data)
        started = time.perf_counter()
        resume = (run / "config.json").is_file()
        result = train(config, resume=resume)
        if result.interrupted:
            raise SystemExit(result.exit_status)
        times[f"run{k}"] = time.perf_counter() - started
        MODELS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "model.zip", MODELS / f"run{k}.zip")
    shutil.copyfile(recipe, MODELS / recipe.name)
    return times


def evaluations(runs: int, episodes: int, seed: int, workers: int) -> dict[str, Path]:
    """Every run and baseline on both families; returns the episodes.csv of each evaluation."""
    out = {}
    policies = (*(str(MODELS / f"run{k}.zip") for k in range(1, runs + 1)), *BASELINES)
    for family in (TRAINING_FAMILY, HELD_OUT_FAMILY):
        folder = RESULTS / "proof_eval" / family.split("/")[-1]
        if not (folder / "results.json").is_file() or _partial(folder):
            config = EvaluateConfig(
                env=family,
                policies=policies,
                episodes=episodes,
                seed=seed,
                n_envs=workers,
                out=str(folder),
                transfer=family == HELD_OUT_FAMILY,  # trained on the training family's id
            )
            evaluate(config)
        out[family] = folder / "episodes.csv"
    return out


def _partial(folder: Path) -> bool:
    return bool(json.loads((folder / "results.json").read_text()).get("partial"))


def _episodes(csv_file: Path) -> dict[str, dict[tuple[str, int], dict[str, float]]]:
    """policy -> (instance, seed) -> {"return", "test_accuracy"}."""
    table: dict[str, dict[tuple[str, int], dict[str, float]]] = defaultdict(dict)
    with csv_file.open() as handle:
        for row in csv.DictReader(handle):
            key = (row["instance"], int(row["seed"]))
            table[_short(row["policy"])][key] = {
                "return": float(row["return"]),
                "test_accuracy": float(row["test_accuracy"]),
            }
    return table


def _short(policy: str) -> str:
    return Path(policy).stem if policy.endswith(".zip") else policy


def paired(
    ours: dict[tuple[str, int], dict[str, float]],
    theirs: dict[tuple[str, int], dict[str, float]],
    metric: str,
) -> dict[str, Any]:
    """Per instance and family-average paired differences, mean and 95% CI over seeds."""
    by_instance: dict[str, list[float]] = defaultdict(list)
    by_seed: dict[int, list[float]] = defaultdict(list)
    for key in sorted(ours):
        diff = ours[key][metric] - theirs[key][metric]
        by_instance[key[0]].append(diff)
        by_seed[key[1]].append(diff)
    family = [statistics.fmean(v) for v in by_seed.values()]  # mean over instances per seed
    return {
        "family": _ci(family),
        "instances": {name: _ci(v) for name, v in sorted(by_instance.items())},
    }


def _ci(values: list[float]) -> dict[str, float]:
    m = mean_ci(values)
    return {"mean": m.mean, "ci95": m.half_width, "low": m.low, "high": m.high, "n": m.n}


def pooled(table: dict[str, dict], runs: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    """The runs' mean per episode: one pooled PPO to compare with the baselines."""
    keys = table[runs[0]].keys()
    return {
        key: {
            m: statistics.fmean(table[r][key][m] for r in runs) for m in ("return", "test_accuracy")
        }
        for key in keys
    }


def report(csv_files: dict[str, Path], runs: int) -> dict[str, Any]:
    names = [f"run{k}" for k in range(1, runs + 1)]
    out: dict[str, Any] = {}
    for family, csv_file in csv_files.items():
        table = _episodes(csv_file)
        table["pooled"] = pooled(table, names)
        out[family] = {
            ppo: {
                base: {m: paired(table[ppo], table[base], m) for m in ("return", "test_accuracy")}
                for base in BASELINES
            }
            for ppo in [*names, "pooled"]
        }
        out[family]["means"] = {
            policy: _means(episodes) for policy, episodes in sorted(table.items())
        }
    return out


def _means(episodes: dict[tuple[str, int], dict[str, float]]) -> dict[str, dict[str, float]]:
    by_instance: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (instance, _), values in episodes.items():
        by_instance[instance].append(values)
    return {
        instance: {m: _ci([v[m] for v in rows]) for m in ("return", "test_accuracy")}
        for instance, rows in sorted(by_instance.items())
    }


def markdown(result: dict[str, Any], runs: int) -> str:
    lines = ["# Learning proof", "", f"Wall time: {result['wall_s']}", ""]
    for family in (TRAINING_FAMILY, HELD_OUT_FAMILY):
        lines += [f"## {family}: family-average return, PPO - baseline (95% CI)", ""]
        lines += ["| PPO | " + " | ".join(BASELINES) + " |", "|---" * (len(BASELINES) + 1) + "|"]
        for ppo in [*(f"run{k}" for k in range(1, runs + 1)), "pooled"]:
            cells = []
            for base in BASELINES:
                f = result["families"][family][ppo][base]["return"]["family"]
                cells.append(f"{f['mean']:+.3f} ± {f['ci95']:.3f}")
            lines.append(f"| {ppo} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=RECIPE, help="the PPO recipe")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=30, help="held-out seeds per instance")
    parser.add_argument("--seed", type=int, default=5000, help="first held-out episode seed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=None, help="override the recipe's")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train_s = train_runs(args.config, args.runs, args.timesteps)
    trained = time.perf_counter()
    csv_files = evaluations(args.runs, args.episodes, args.seed, args.workers)
    result = {
        "wall_s": {
            "train": train_s,
            "evaluate": time.perf_counter() - trained,
            "total": time.perf_counter() - started,
        },
        "config": str(args.config),
        "episodes": args.episodes,
        "families": report(csv_files, args.runs),
    }
    atomic_write_text(RESULTS / "learning_proof.json", json.dumps(result, indent=1))
    atomic_write_text(RESULTS / "learning_proof.md", markdown(result, args.runs))
    print(markdown(result, args.runs))


if __name__ == "__main__":
    main()
