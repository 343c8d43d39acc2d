"""Summary statistics for learning and evaluation claims: means with confidence intervals."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
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
