"""The files of an evaluation: where its typed results become JSON, CSV and figures.

``OUT/results.json`` (schema version 1)::

    {"schema_version": 1, "partial": false, "env": ID, "env_kwargs": {...}, "task": NAME,
     "seeds": [...],
     "policies": [{"policy": SPEC,
                   "summary": {"return" | "test_accuracy" | "param_growth":
                                   {"mean": x, "ci95": half-width, "n": n},
                               "seeds_germinated" | "seeds_fossilized" | "seeds_pruned": mean},
                   "episodes": [{"seed", "return", "test_accuracy", "param_growth", "params",
                                 "seeds_germinated", "seeds_fossilized", "seeds_pruned",
                                 "actions", "rewards", "val_accuracies", "events",
                                 "model_file"}, ...]}, ...]}

``partial`` is true when Ctrl-C or SIGTERM stopped the evaluation: the file then holds the
episodes that finished (a policy with none has ``"summary": null``) and no figures are drawn.

A **task family**'s evaluation (``env`` is an id of :data:`envs.FAMILIES`) adds keys, and only
then (the other keys keep their meaning, so the schema version stays 1)::

    "instances": [NAME, ...]                    after "seeds": the family's instances, in order
    per policy:  "instance_summaries": {NAME: SUMMARY | null, ...},
                 "family_summary": SUMMARY | null
    per episode: "instance": NAME               after "seed"

SUMMARY has the shape of ``"summary"``. ``"summary"`` pools all the policy's episodes (every
instance); ``"family_summary"`` is the family average: the mean over instances of the
per-instance means, its ``ci95`` and ``n`` over the per-seed family averages (see
:mod:`simic.evaluation.report`), ``null`` if no seed was played on every instance. ``"task"`` holds
the
family's tasks joined by ``+`` (each episode's own follows from its instance name,
:meth:`envs.Instance.parse`).

Any episode replays with :func:`episode_record` (``EpisodeRecord.validate()`` checks every
reward; a family's episode replays on the plain env configured as its instance).
``OUT/episodes.csv`` has one row per episode (a family's with an ``instance`` column after
``seed``); ``OUT/validation_curves.png`` and ``OUT/pareto.png`` are the figures, and for a
family ``OUT/instances.png`` (per-instance return and test accuracy with 95% intervals); with
``save_model`` each episode's grown network is exported to ``OUT/models/``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import envs
from envs.atomic import atomic_write_text
from simic.common.errors import SimicError
from simic.evaluation import figures
from simic.evaluation.report import EvaluatedEpisode, EvaluationReport, PolicySummary

SCHEMA_VERSION = 1
RESULTS_FILE, EPISODES_FILE = "results.json", "episodes.csv"
FIGURES = ("validation_curves.png", "pareto.png", "instances.png")
OUTPUT_FILES = (RESULTS_FILE, EPISODES_FILE, *FIGURES)
"""Every file an evaluation may write in its folder (besides ``models/``)."""
MODELS_DIR = "models"
CSV_COLUMNS = (
    "policy",
    "seed",
    "return",
    "test_accuracy",
    "param_growth",
    "params",
    "seeds_germinated",
    "seeds_fossilized",
    "seeds_pruned",
)


def _episode_row(episode: EvaluatedEpisode) -> dict[str, Any]:
    """The episode as results.json and episodes.csv write it (the file boundary)."""
    result = episode.result
    # A family's episodes name their instance; other episodes have no such key at all.
    instance = {} if result.instance is None else {"instance": result.instance}
    return {
        "seed": result.seed,
        **instance,
        "return": result.return_,
        "test_accuracy": result.test_accuracy,
        "param_growth": result.param_growth,
        "params": result.params,
        "seeds_germinated": result.seeds_germinated,
        "seeds_fossilized": result.seeds_fossilized,
        "seeds_pruned": result.seeds_pruned,
        "actions": list(result.actions),
        "rewards": list(result.rewards),
        "val_accuracies": list(result.val_accuracies),
        "events": [[step, str(action)] for step, action in result.events],
        "model_file": episode.model_file,
    }


def _summary(summary: PolicySummary | None) -> dict[str, Any] | None:
    return summary.to_dict() if summary is not None else None


def _policy_entry(report: EvaluationReport, policy: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"policy": policy, "summary": _summary(report.summaries[policy])}
    if report.instances:
        rows = report.instance_summaries.get(policy, {})
        entry["instance_summaries"] = {name: _summary(rows.get(name)) for name in report.instances}
        entry["family_summary"] = _summary(report.family_summaries.get(policy))
    entry["episodes"] = [_episode_row(ep) for ep in report.episodes[policy]]
    return entry


def _results_json(report: EvaluationReport) -> str:
    config = report.config
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "partial": report.partial,
        "env": config.env,
        "env_kwargs": config.env_kwargs,
        "task": report.task,
        "seeds": config.seeds,
    }
    if report.instances:
        data["instances"] = list(report.instances)
    data["policies"] = [_policy_entry(report, p) for p in config.policies]
    return json.dumps(data, indent=1, allow_nan=False)  # strict JSON: NaN is written null


def _episodes_csv(report: EvaluationReport) -> str:
    columns = CSV_COLUMNS
    if report.instances:  # after "seed"
        columns = (*CSV_COLUMNS[:2], "instance", *CSV_COLUMNS[2:])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for policy, episodes in report.episodes.items():
        for ep in episodes:
            row = _episode_row(ep)
            writer.writerow([policy, *(row[c] for c in columns[1:])])
    return buffer.getvalue()


def write_outputs(report: EvaluationReport, folder: Path) -> tuple[Path, ...]:
    """results.json, episodes.csv and (unless partial) the figures, each written atomically.

    What an earlier evaluation left in the folder and this one did not write (its figures, the
    networks of episodes this one did not play) is removed, so the folder only ever holds one
    evaluation's files.
    """
    files = (
        atomic_write_text(folder / RESULTS_FILE, _results_json(report)),
        atomic_write_text(folder / EPISODES_FILE, _episodes_csv(report)),
    )
    if not report.partial:
        results = report.results()
        files += (
            figures.validation_curves(results, folder / FIGURES[0]),
            figures.pareto(results, folder / FIGURES[1]),
        )
        if report.instances:
            path = folder / FIGURES[2]
            files += (figures.per_instance(report.instance_summaries, report.instances, path),)
    _remove_stale(report, folder, files)
    return files


def _remove_stale(report: EvaluationReport, folder: Path, written: tuple[Path, ...]) -> None:
    for name in FIGURES:
        if folder / name not in written:
            (folder / name).unlink(missing_ok=True)
    models = {ep.model_file for eps in report.episodes.values() for ep in eps if ep.model_file}
    for path in (folder / MODELS_DIR).glob("*.pt"):
        if f"{MODELS_DIR}/{path.name}" not in models:
            path.unlink(missing_ok=True)


def episode_record(
    results_file: str | Path, policy: str, seed: int, instance: str | None = None
) -> envs.EpisodeRecord:
    """The replayable record of one episode in a ``results.json``.

    A task family's file needs the episode's ``instance`` (a name); the record then replays on
    the plain env of the instance's task, configured as the instance (the same rewards).
    """
    data = json.loads(Path(results_file).read_text())
    if "instances" in data and instance not in data["instances"]:
        raise SimicError(
            f"{results_file} is a task family's evaluation: name the episode's instance, one "
            f"of {data['instances']} (got {instance!r})"
        )
    task, kwargs = data["task"], data["env_kwargs"]
    if instance is not None:
        parsed = envs.Instance.parse(instance)
        task, kwargs = parsed.task, {**kwargs, **parsed.env_kwargs()}
    for entry in data["policies"]:
        if entry["policy"] != policy:
            continue
        for ep in entry["episodes"]:
            if ep["seed"] == seed and ep.get("instance") == instance:
                actions, rewards = tuple(ep["actions"]), tuple(ep["rewards"])
                return envs.EpisodeRecord(task, kwargs, seed, actions, rewards, data["env"])
    where = "" if instance is None else f" on {instance}"
    raise SimicError(f"{results_file} has no episode of policy {policy!r} with seed {seed}{where}")
