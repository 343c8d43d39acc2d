"""The baselines of a sweep: evaluated once on the trials' held-out seeds, per env setting.

A sweep that searches ``env_kwargs`` gets one baseline evaluation per setting its trials used
(``STORAGE/baselines_<setting>/``); a finished one is reused on ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simic.common.printing import Printer
from simic.common.raysupport import LOCAL
from simic.evaluation import evaluate
from simic.sweep.config import SweepConfig, nest
from simic.sweep.results import BASELINE, DONE, SweepRow, summary_from_json
from simic.sweep.trials import AppendLog, evaluate_config

BASELINES = "baselines"


def baseline_rows(
    config: SweepConfig, storage: Path, trials: Sequence[SweepRow], on_cluster: bool, out: Printer
) -> list[SweepRow]:
    """Every baseline on the held-out seeds, once per environment setting of the trials."""
    if not config.evaluation.baselines:
        return []
    env_paths = [d.path for d in config.search if d.path.startswith("env_kwargs.")]
    settings: list[dict[str, Any]] = []
    for trial in trials:
        setting = {p: trial.settings[p] for p in env_paths}
        if setting not in settings:
            settings.append(setting)
    rows = []
    for setting in settings:
        folder = storage / _baseline_folder(setting)
        env_kwargs = {**config.train.env_kwargs, **nest(setting).get("env_kwargs", {})}
        data = _baseline_results(config, env_kwargs, folder, on_cluster, out)
        rows += [_baseline_row(entry, setting, folder.name) for entry in data["policies"]]
    return rows


def _baseline_folder(setting: Mapping[str, Any]) -> str:
    if not setting:
        return BASELINES
    parts = [f"{path.split('.', 1)[1]}={value}" for path, value in setting.items()]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join([BASELINES, *parts]))


def _baseline_results(
    config: SweepConfig, env_kwargs: dict[str, Any], folder: Path, on_cluster: bool, out: Printer
) -> dict[str, Any]:
    """The baselines' results.json in ``folder``: reused if complete, else evaluated now."""
    results = folder / "results.json"
    if results.is_file():
        data = json.loads(results.read_text())
        policies = [entry["policy"] for entry in data["policies"]]
        same = (data["seeds"], data["env_kwargs"], policies) == (
            config.evaluation.seeds,
            env_kwargs,
            list(config.evaluation.baselines),
        )
        if same and not data["partial"]:
            return data
    out(f"evaluating the baselines {', '.join(config.evaluation.baselines)} into {folder}")
    # On a cluster as Ray tasks, in the sweep's session; on a local Ray here, in this process,
    # which has everything imported already (a fresh Ray worker would import it all again).
    ray = LOCAL if on_cluster else None
    run = dataclasses.replace(config.train, env_kwargs=env_kwargs)
    evaluation = evaluate_config(config, run, config.evaluation.baselines, folder, ray)
    report = evaluate(evaluation, out=AppendLog(folder / "evaluate.log"))
    if report.partial:
        raise KeyboardInterrupt  # stopped mid-way: --resume evaluates the baselines again
    return json.loads(results.read_text())


def _baseline_row(entry: Mapping[str, Any], setting: dict[str, Any], folder: str) -> SweepRow:
    summary = entry.get("family_summary") or entry["summary"]
    returns = summary_from_json(summary["return"]) if summary else None
    accuracy = summary_from_json(summary["test_accuracy"]) if summary else None
    spec = Path(entry["policy"])  # a model path is shown as FOLDER/model.zip
    name = f"{spec.parent.name}/{spec.name}" if "/" in entry["policy"] else entry["policy"]
    return SweepRow(name, BASELINE, DONE, setting, returns, accuracy, folder)
