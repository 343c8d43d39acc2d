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

Any episode replays with :func:`episode_record` (``EpisodeRecord.validate()`` checks every
reward). ``OUT/episodes.csv`` has one row per episode; ``OUT/validation_curves.png`` and
``OUT/pareto.png`` are the figures; with ``save_model`` each episode's grown network is exported
to ``OUT/models/``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import envs
from envs.atomic import atomic_write_text
from simic import figures
from simic.errors import SimicError
from simic.policies import EpisodeResult

if TYPE_CHECKING:  # the report is built by simic.evaluate, which imports this module
    from simic.evaluate import EvaluationReport

SCHEMA_VERSION = 1
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


@dataclass(frozen=True)
class EvaluatedEpisode:
    """One episode of an evaluation: what was played, and where its grown network was saved.

    Attributes:
        result: The episode.
        model_file: Its exported network, relative to the output folder (``save_model``).
    """

    result: EpisodeResult
    model_file: str | None = None


def _episode_row(episode: EvaluatedEpisode) -> dict[str, Any]:
    """The episode as results.json and episodes.csv write it (the file boundary)."""
    result = episode.result
    return {
        "seed": result.seed,
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


def _results_json(report: EvaluationReport) -> str:
    config = report.config
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "partial": report.partial,
            "env": config.env,
            "env_kwargs": config.env_kwargs,
            "task": report.task,
            "seeds": config.seeds,
            "policies": [
                {
                    "policy": p,
                    "summary": summary.to_dict() if (summary := report.summaries[p]) else None,
                    "episodes": [_episode_row(ep) for ep in report.episodes[p]],
                }
                for p in config.policies
            ],
        },
        indent=1,
    )


def _episodes_csv(report: EvaluationReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for policy, episodes in report.episodes.items():
        for ep in episodes:
            row = _episode_row(ep)
            writer.writerow([policy, *(row[c] for c in CSV_COLUMNS[1:])])
    return buffer.getvalue()


def write_outputs(report: EvaluationReport, folder: Path) -> tuple[Path, ...]:
    """results.json, episodes.csv and (unless partial) the figures, each written atomically."""
    files = (
        atomic_write_text(folder / "results.json", _results_json(report)),
        atomic_write_text(folder / "episodes.csv", _episodes_csv(report)),
    )
    if report.partial:
        return files
    results = report.results()
    return (
        *files,
        figures.validation_curves(results, folder / "validation_curves.png"),
        figures.pareto(results, folder / "pareto.png"),
    )


def episode_record(results_file: str | Path, policy: str, seed: int) -> envs.EpisodeRecord:
    """The replayable record of one episode in a ``results.json``."""
    data = json.loads(Path(results_file).read_text())
    for entry in data["policies"]:
        if entry["policy"] == policy:
            for ep in entry["episodes"]:
                if ep["seed"] == seed:
                    return envs.EpisodeRecord(
                        data["task"],
                        data["env_kwargs"],
                        seed,
                        tuple(ep["actions"]),
                        tuple(ep["rewards"]),
                        data["env"],
                    )
    raise SimicError(f"{results_file} has no episode of policy {policy!r} with seed {seed}")
