"""The proof's jobs: one ``simic train`` per run, one ``simic evaluate`` per policy and family.

Each job knows whether it is done (a rerun skips it) and what it leaves: a finished training's
model is copied beside the recipe that made it; an evaluation's results are in its folder. They
run on :class:`benchmarks.common.jobs.Runner`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks.common.jobs import Job
from benchmarks.common.procs import simic_argv
from benchmarks.learning_proof import layout
from envs.atomic import atomic_write_bytes
from simic.common.envutil import load_config_file
from simic.training.config import TrainConfig


def train_jobs(recipe: Path, runs: int, timesteps: int | None) -> list[Job]:
    """One ``simic train`` per run, resumed when its folder exists; kept when finished."""
    settings = load_config_file(recipe)
    cores = int(settings.get("n_envs", 1))  # one env process per core
    total = str(timesteps if timesteps is not None else settings["timesteps"])
    _drop_stale_models(recipe)
    jobs = []
    for k in range(1, runs + 1):
        run = layout.RUNS / f"run{k}"
        if (run / "config.json").is_file():  # resumed to the recipe's length (or --timesteps)
            _check_run_recipe(run, settings, k)
            argv = simic_argv("train", "--resume", str(run), "--timesteps", total, "--no-progress")
        else:
            argv = simic_argv(
                "train", "--config", str(recipe), "--seed", str(k), "--out", str(run),
                "--timesteps", total, "--no-progress",
            )  # fmt: skip
        jobs.append(
            Job(
                f"train-run{k}",
                argv,
                done=(layout.MODELS / f"run{k}.zip").is_file,
                cores=cores,
                wall_file=run / layout.WALL_FILE,
                finish=lambda run=run, k=k, recipe=recipe: keep_model(run, k, recipe),
            )
        )
    return jobs


def _drop_stale_models(recipe: Path) -> None:
    """Remove committed models that another recipe made (git keeps them), so they are retrained.

    A committed model counts as a finished training only beside the recipe that made it
    (``models/<recipe name>``, compared as settings, not text); otherwise a changed recipe would
    be reported with the old recipe's models.
    """
    made_by = layout.MODELS / recipe.name
    if made_by.is_file() and load_config_file(made_by) == load_config_file(recipe):
        return
    stale = sorted(layout.MODELS.glob("run*.zip")) if layout.MODELS.is_dir() else []
    if stale:
        print(f"the models in {layout.MODELS} were made by another recipe: training them again")
    for path in [*stale, made_by]:
        path.unlink(missing_ok=True)


def _check_run_recipe(run: Path, settings: dict[str, Any], k: int) -> None:
    """Refuse to resume a run folder that another recipe started (it would train that one)."""
    ignored = {"out": "run", "timesteps": 1, "progress_bar": False}  # set per invocation
    found = TrainConfig.from_mapping(json.loads((run / "config.json").read_text()))
    wanted = TrainConfig.from_mapping({**settings, "seed": k})
    if dataclasses.replace(found, **ignored) != dataclasses.replace(wanted, **ignored):
        raise SystemExit(
            f"learning_proof: {run} was started with another recipe than this one; move it "
            "away (or delete it) to train this recipe from the start"
        )


def keep_model(run: Path, k: int, recipe: Path) -> None:
    """Commit-ready copy of a finished run's model (and its recipe); its old evaluations go."""
    layout.MODELS.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(layout.MODELS / recipe.name, recipe.read_bytes())
    atomic_write_bytes(layout.MODELS / f"run{k}.zip", (run / "model.zip").read_bytes())
    for family in layout.FAMILIES:  # evaluations of an earlier model of this run are stale now
        shutil.rmtree(layout.eval_folder(family, f"run{k}"), ignore_errors=True)
        layout.eval_wall_file(family, f"run{k}").unlink(missing_ok=True)


def eval_jobs(runs: int, episodes: int, seed: int) -> list[Job]:
    """One ``simic evaluate`` per policy and family, the ones the acceptance compares first.

    A run's evaluations wait for its training. An interrupted benchmark keeps every finished
    evaluation, so the order only decides what a partial report can already say.
    """
    names = layout.run_names(runs)
    first, later = (
        ("heuristic", "schedule-best", "heuristic-tuned"),
        ("nogrow", "random", "growall"),
    )
    order = [
        (layout.TRAINING_FAMILY, [*names, *first]),
        (layout.HELD_OUT_FAMILY, [*names, "heuristic"]),
        (layout.TRAINING_FAMILY, list(later)),
        (layout.HELD_OUT_FAMILY, [p for p in layout.BASELINES if p != "heuristic"]),
    ]
    return [_eval_job(family, name, episodes, seed) for family, names in order for name in names]


def _eval_job(family: str, name: str, episodes: int, seed: int) -> Job:
    is_run = name.startswith("run")
    policy = str(layout.MODELS / f"{name}.zip") if is_run else name
    folder = layout.eval_folder(family, name)
    argv = simic_argv(
        "evaluate", "--env", family, "--policy", policy, "--episodes", str(episodes),
        "--seed", str(seed), "--n-envs", "1", "--out", str(folder),
    )  # fmt: skip
    if family == layout.HELD_OUT_FAMILY and is_run:
        argv.append("--transfer")  # trained on the training family's id
    return Job(
        f"eval-{layout.short(family)}-{name}",
        argv,
        done=lambda: finished(folder),
        after=f"train-{name}" if is_run else None,
        wall_file=layout.eval_wall_file(family, name),
    )


def finished(folder: Path) -> bool:
    """Whether an evaluation in ``folder`` played every episode (not a partial one)."""
    results = folder / "results.json"
    return results.is_file() and not json.loads(results.read_text()).get("partial")
