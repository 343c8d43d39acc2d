"""An evaluation's report: its types, the summaries of its episodes, and the tables it prints.

:func:`simic.evaluation.runner.evaluate` builds the report; :mod:`simic.evaluation.files` writes it.
The family average and its interval are defined in :mod:`simic.evaluation.runner`'s docstring.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simic.common import stats
from simic.common.stats import MeanCI, mean_ci
from simic.policies import EpisodeResult

if TYPE_CHECKING:  # the report carries the config it ran; simic.evaluation.runner builds both
    from simic.evaluation.config import EvaluateConfig


@dataclass(frozen=True)
class EvaluatedEpisode:
    """One episode of an evaluation: what was played, and where its grown network was saved.

    Attributes:
        result: The episode.
        model_file: Its exported network, relative to the output folder (``save_model``).
    """

    result: EpisodeResult
    model_file: str | None = None


@dataclass(frozen=True)
class PolicySummary:
    """Means and 95% confidence intervals of one policy's episodes."""

    policy: str
    returns: MeanCI
    test_accuracy: MeanCI
    param_growth: MeanCI
    germinated: float
    fossilized: float
    pruned: float

    def to_dict(self) -> dict[str, Any]:
        def ci(m: MeanCI) -> dict[str, Any]:
            # One episode has no interval: null, since NaN is not JSON.
            half = None if math.isnan(m.half_width) else m.half_width
            return {"mean": m.mean, "ci95": half, "n": m.n}

        return {
            "return": ci(self.returns),
            "test_accuracy": ci(self.test_accuracy),
            "param_growth": ci(self.param_growth),
            "seeds_germinated": self.germinated,
            "seeds_fossilized": self.fossilized,
            "seeds_pruned": self.pruned,
        }


@dataclass(frozen=True)
class EvaluationReport:
    """Every episode of every policy, and their summaries."""

    config: EvaluateConfig
    task: str
    episodes: dict[str, list[EvaluatedEpisode]]
    summaries: dict[str, PolicySummary | None]
    files: tuple[Path, ...] = ()
    exit_status: int = 0
    """0 when every episode ran; 130 (Ctrl-C), 143 (SIGTERM) or 1 (a worker died) for a
    partial evaluation."""
    instances: tuple[str, ...] = ()
    """The family's instance names (empty for an env that is not a task family)."""
    instance_summaries: dict[str, dict[str, PolicySummary | None]] = field(default_factory=dict)
    """Per policy, per instance: the summary of that instance's episodes (families only)."""
    family_summaries: dict[str, PolicySummary | None] = field(default_factory=dict)
    """Per policy: the family average (see the module docstring; families only)."""

    @property
    def partial(self) -> bool:
        return self.exit_status != 0

    def results(self) -> dict[str, list[EpisodeResult]]:
        """The played episodes by policy, without their file names."""
        return {p: [ep.result for ep in eps] for p, eps in self.episodes.items()}


def summarize(policy: str, results: Sequence[EpisodeResult]) -> PolicySummary | None:
    """The policy's means and intervals; ``None`` if none of its episodes ran."""
    if not results:
        return None

    def mean(counts: Sequence[int]) -> float:
        return sum(counts) / len(results)

    return PolicySummary(
        policy,
        mean_ci([r.return_ for r in results]),
        mean_ci([r.test_accuracy for r in results]),
        mean_ci([r.param_growth for r in results]),
        mean([r.seeds_germinated for r in results]),
        mean([r.seeds_fossilized for r in results]),
        mean([r.seeds_pruned for r in results]),
    )


def family_summary(
    policy: str, results: Sequence[EpisodeResult], instances: Sequence[str]
) -> PolicySummary | None:
    """The family average of a policy's episodes (``None`` if no seed covers every instance).

    For each seed played on every instance, the mean over instances of that seed's episodes;
    then the mean of those per-seed averages and its 95% interval (see the module docstring).
    With every seed complete, the mean equals the mean over instances of the per-instance means.
    """

    def per_seed(metric: Callable[[EpisodeResult], float]) -> list[float]:
        return list(family_average_by_seed(results, instances, metric).values())

    if not per_seed(lambda r: r.return_):
        return None
    return PolicySummary(
        policy,
        mean_ci(per_seed(lambda r: r.return_)),
        mean_ci(per_seed(lambda r: r.test_accuracy)),
        mean_ci(per_seed(lambda r: r.param_growth)),
        statistics.fmean(per_seed(lambda r: r.seeds_germinated)),
        statistics.fmean(per_seed(lambda r: r.seeds_fossilized)),
        statistics.fmean(per_seed(lambda r: r.seeds_pruned)),
    )


def family_average_by_seed(
    results: Sequence[EpisodeResult],
    instances: Sequence[str],
    metric: Callable[[EpisodeResult], float],
) -> dict[int, float]:
    """Per seed played on every instance (in seed order), the mean of ``metric`` over instances
    (:func:`simic.common.stats.family_average_by_seed`).

    Two policies' values at one seed pair (the same seed on every instance): the difference of
    family averages is a mean of these per-seed differences.
    """
    values = {(r.instance, r.seed): metric(r) for r in results}
    return stats.family_average_by_seed(values, instances)


# ----------------------------------------------------------------------------------- outputs
def _row(label: str, s: PolicySummary, width: int) -> str:
    name = label if len(label) <= width else "…" + label[-(width - 1) :]
    return (
        f"{name:<{width}} {s.returns.format(1, 3):>17} "
        f"{s.test_accuracy.format(100, 1):>17} {s.param_growth.format(1, 2):>15} "
        f"{s.germinated:>6.1f} {s.fossilized:>6.1f} {s.pruned:>6.1f}"
    )


def _header(label: str, width: int) -> list[str]:
    header = (
        f"{label:<{width}} {'return':>17} {'test accuracy %':>17} {'param growth':>15} "
        f"{'germ.':>6} {'foss.':>6} {'pruned':>6}"
    )
    return [header, "-" * len(header)]


def format_table(summaries: Mapping[str, PolicySummary | None], width: int = 24) -> str:
    """One row per policy: means ± 95% confidence half-widths (names cut to ``width``)."""
    lines = _header("policy", width)
    lines += [_row(s.policy, s, width) for s in summaries.values() if s is not None]
    return "\n".join(lines)


def format_family_table(
    instance_summaries: Mapping[str, Mapping[str, PolicySummary | None]],
    family_summaries: Mapping[str, PolicySummary | None],
) -> str:
    """Per policy: one row per instance, then the family average (means ± 95% half-widths)."""
    lines = _header("policy / instance", 30)
    for policy, rows in instance_summaries.items():
        lines.append(policy)
        lines += [_row(f"  {name}", s, 30) for name, s in rows.items() if s is not None]
        if (family := family_summaries.get(policy)) is not None:
            lines.append(_row("  family average", family, 30))
    return "\n".join(lines)


def format_report(report: EvaluationReport) -> str:
    """The table :func:`evaluate` prints: per instance and family average for a task family."""
    if report.instances:
        return format_family_table(report.instance_summaries, report.family_summaries)
    return format_table(report.summaries)
