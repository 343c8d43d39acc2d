"""Summary statistics for learning and evaluation claims: means with confidence intervals.

One owner for every interval the project reports: :func:`mean_ci` (a mean and its t-interval),
and for task families the family average by seed and the paired differences between two
policies (what ``simic evaluate``, ``simic quickstart`` and the learning proof report).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    """A sample mean and the half-width of its two-sided confidence interval (t distribution)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def format(self, scale: float = 1.0, digits: int = 3) -> str:
        if math.isnan(self.half_width):
            return f"{self.mean * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f} ± {self.half_width * scale:.{digits}f}"


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean of ``values`` with a ``confidence`` interval; the half-width is NaN for n < 2."""
    if not values:
        raise ValueError("mean_ci needs at least one value")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return MeanCI(mean, float("nan"), len(values))
    sem = statistics.stdev(values) / math.sqrt(len(values))
    t = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1))
    return MeanCI(mean, t * sem, len(values))


# --------------------------------------------------------------------------- task families
# A task family's episodes are keyed by (instance, seed); every policy plays the same seeds on
# every instance, so two policies pair episode by episode, and the family average pairs by seed.
EpisodeKey = tuple[str | None, int]
"""``(instance, seed)``: one episode of a task family (instance ``None`` for a plain env)."""


def family_average_by_seed(
    values: Mapping[EpisodeKey, float], instances: Sequence[str | None]
) -> dict[int, float]:
    """Per seed played on every one of ``instances`` (in seed order), the mean over instances.

    The family average of a seed weighs every instance alike; its mean over seeds, with
    :func:`mean_ci`, is the family average and its interval. Seeds missing an instance are left
    out, so a partial evaluation never averages over fewer instances.
    """
    by_seed: dict[int, dict[str | None, float]] = {}
    for (instance, seed), value in values.items():
        by_seed.setdefault(seed, {})[instance] = value
    return {
        seed: statistics.fmean(row[i] for i in instances)
        for seed, row in sorted(by_seed.items())
        if all(i in row for i in instances)
    }


def family_cis(
    values: Mapping[EpisodeKey, float], confidence: float = 0.95
) -> tuple[dict[str | None, MeanCI], MeanCI]:
    """Per instance (in name order) the mean over its seeds, and the family average (per seed,
    the mean over the instances: :func:`family_average_by_seed`), each with its interval."""
    by_instance: dict[str | None, list[float]] = {}
    for (instance, _), value in sorted(values.items(), key=lambda item: _order(item[0])):
        by_instance.setdefault(instance, []).append(value)
    per_seed = family_average_by_seed(values, list(by_instance))
    instances = {name: mean_ci(v, confidence) for name, v in by_instance.items()}
    return instances, mean_ci(list(per_seed.values()), confidence)


def paired_differences(
    ours: Mapping[EpisodeKey, float], theirs: Mapping[EpisodeKey, float]
) -> dict[EpisodeKey, float]:
    """``ours - theirs`` episode by episode; both must hold the same episodes."""
    unpaired = sorted(set(ours) ^ set(theirs), key=_order)
    if unpaired:
        raise ValueError(f"episodes do not pair: {unpaired[:3]} ... are in only one of the two")
    return {key: ours[key] - theirs[key] for key in sorted(ours, key=_order)}


def _order(key: EpisodeKey) -> tuple[str, int]:
    return ("" if key[0] is None else key[0], key[1])
