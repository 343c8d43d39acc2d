"""A sweep trial's name and metrics, shared by the sweep (:mod:`simic.sweep.tune`) and its Tune
callbacks (:mod:`simic.sweep.callbacks`), which Tune pickles by reference.

A trial reports a :class:`~simic.common.stats.MeanCI` as three flat Tune metrics, ``NAME_mean``,
``NAME_ci95`` (the half-width of the 95% interval) and ``NAME_n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from simic.common.stats import MeanCI

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
