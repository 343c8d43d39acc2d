"""One sweep trial: its folder, its log, its training and held-out evaluation, its metrics.

Shared by the sweep (:mod:`simic.sweep.tune`), its baselines (:mod:`simic.sweep.baselines`)
and its Tune callbacks (:mod:`simic.sweep.callbacks`); Tune pickles :func:`run_trial` and the
callbacks by reference.

A trial reports a :class:`~simic.common.stats.MeanCI` as three flat Tune metrics, ``NAME_mean``,
``NAME_ci95`` (the half-width of the 95% interval) and ``NAME_n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simic.common.errors import SimicError
from simic.common.printing import Printer
from simic.common.runfolder import CONFIG_FILE, MODEL_FILE
from simic.common.stats import MeanCI
from simic.evaluation import EvaluateConfig, EvaluationReport, evaluate
from simic.sweep.config import SweepConfig
from simic.training import TrainConfig, train

TRIAL_LOG, RUN_FOLDER, EVALUATION_FOLDER = "trial.log", "run", "evaluation"

METRIC = "return_mean"
"""The Tune metric a sweep maximizes: the mean held-out return of the trial's model."""


def trial_folder(trial: Any) -> str:
    """A trial's folder name under the storage folder (Tune's ``trial_dirname_creator``)."""
    return folder_name(trial.trial_id)


def folder_name(trial_id: str) -> str:
    """The folder of the trial with this id."""
    return f"trial_{trial_id}"


def trial_metrics(name: str, value: MeanCI) -> dict[str, float]:
    """``value`` as the Tune metrics ``NAME_mean``, ``NAME_ci95`` and ``NAME_n``."""
    return {f"{name}_mean": value.mean, f"{name}_ci95": value.half_width, f"{name}_n": value.n}


def from_metrics(metrics: Mapping[str, Any], name: str) -> MeanCI | None:
    """The :class:`MeanCI` that :func:`trial_metrics` reported as ``name`` (None if absent)."""
    if f"{name}_mean" not in metrics:
        return None
    half = metrics.get(f"{name}_ci95")
    half = math.nan if half is None else float(half)
    return MeanCI(float(metrics[f"{name}_mean"]), half, int(metrics.get(f"{name}_n", 0)))


class AppendLog:
    """A printer that appends each line to a file (a trial's output stays off the console)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{line}\n")


def run_trial(params: dict[str, Any], *, sweep: SweepConfig, storage: str) -> None:
    """The Tune trainable: train and evaluate one trial, then report its metrics to Tune."""
    from ray import tune

    # Tune's own trial dir (get_trial_dir) is a local staging copy; the run lives in storage.
    folder = Path(storage) / folder_name(tune.get_context().get_trial_id())
    config = sweep.trial_config(params, out=str(folder / RUN_FOLDER))
    tune.report(train_and_evaluate(config, sweep, folder, AppendLog(folder / TRIAL_LOG)))


def train_and_evaluate(
    config: TrainConfig, sweep: SweepConfig, folder: Path, out: Printer
) -> dict[str, float]:
    """Train ``config`` (continuing its run if the folder holds one), evaluate the model on the
    sweep's held-out seeds into ``folder/evaluation``, and return the Tune metrics."""
    run = Path(config.out)
    # A previous attempt of this trial that was killed holds no lock: the kernel released it.
    result = train(config, resume=(run / CONFIG_FILE).is_file(), out=out)
    if result.interrupted:
        raise SimicError(f"training of {run} stopped at {result.timesteps} timesteps")
    model = str(run / MODEL_FILE)
    evaluation = evaluate_config(sweep, config, (model,), folder / EVALUATION_FOLDER)
    report = evaluate(evaluation, out=out)
    returns, accuracy = _headline(report, model)
    return {
        **trial_metrics("return", returns),
        **trial_metrics("test_accuracy", accuracy),
        "timesteps": result.timesteps,
    }


def evaluate_config(
    sweep: SweepConfig,
    run: TrainConfig,
    policies: Sequence[str],
    out: Path,
    ray: str | None = None,
) -> EvaluateConfig:
    """The held-out evaluation of ``policies`` on the env (and device) of training ``run``."""
    return EvaluateConfig(
        env=run.env,
        env_kwargs=dict(run.env_kwargs),
        policies=tuple(policies),
        episodes=sweep.evaluation.episodes,
        seed=sweep.evaluation.seed,
        ray=ray,
        out=str(out),
        device=run.device,
    )


def _headline(report: EvaluationReport, policy: str) -> tuple[MeanCI, MeanCI]:
    """Return and test accuracy of ``policy``: a task family's average, else over episodes."""
    summary = report.family_summaries.get(policy) or report.summaries[policy]
    if summary is None:
        raise SimicError(f"the evaluation of {policy} played no episode")
    return summary.returns, summary.test_accuracy
