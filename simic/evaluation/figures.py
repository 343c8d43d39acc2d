"""Figures of an evaluation: what a person would rather look at than read."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt

from envs.actions import ActionKind
from envs.atomic import atomic_write_bytes
from simic.common.stats import MeanCI
from simic.evaluation.report import PolicySummary
from simic.policies import EpisodeResult

Episodes = Sequence[EpisodeResult]
MARKERS = {
    ActionKind.GERMINATE: ("^", "tab:green"),
    ActionKind.FOSSILIZE: ("o", "tab:blue"),
    ActionKind.PRUNE: ("x", "tab:red"),
}


def _save(fig: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _curve_panel(ax: plt.Axes, policy: str, episodes: Episodes) -> None:
    for ep in episodes:
        curve = ep.val_accuracies
        ax.plot(range(len(curve)), curve, color="0.6", linewidth=0.8, alpha=0.7)
        for step, action in ep.events:
            if action.kind in MARKERS and step < len(curve):
                marker, colour = MARKERS[action.kind]
                ax.scatter(step, curve[step], marker=marker, color=colour, s=28, zorder=3)
    length = min(len(ep.val_accuracies) for ep in episodes)
    mean = [sum(ep.val_accuracies[t] for ep in episodes) / len(episodes) for t in range(length)]
    ax.plot(range(length), mean, color="black", linewidth=2, label="mean")
    ax.set_title(policy, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)


def validation_curves(results: Mapping[str, Episodes], path: Path) -> Path:
    """Validation accuracy over the episode, one panel per policy, growth events marked."""
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), sharey=True, squeeze=False)
    for ax, (policy, episodes) in zip(axes[0], results.items(), strict=True):
        _curve_panel(ax, policy, episodes)
    axes[0][0].set_ylabel("validation accuracy")
    handles = [
        plt.Line2D([], [], color=c, marker=m, linestyle="none", label=k.value)
        for k, (m, c) in MARKERS.items()
    ]
    handles.append(plt.Line2D([], [], color="black", linewidth=2, label="mean"))
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1.08))
    return _save(fig, path)


def pareto(results: Mapping[str, Episodes], path: Path) -> Path:
    """Final test accuracy against parameter count: every episode, and each policy's mean."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (policy, episodes) in enumerate(results.items()):
        colour = f"C{i}"
        params = [ep.params for ep in episodes]
        accuracy = [100 * ep.test_accuracy for ep in episodes]
        ax.scatter(params, accuracy, color=colour, alpha=0.35, s=18)
        ax.scatter(
            sum(params) / len(params),
            sum(accuracy) / len(accuracy),
            color=colour,
            s=90,
            marker="D",
            edgecolor="black",
            label=policy,
            zorder=3,
        )
    ax.set_xlabel("parameters at the end of the episode")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs size (diamonds: policy means)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def per_instance(
    summaries: Mapping[str, Mapping[str, PolicySummary | None]],
    instances: Sequence[str],
    path: Path,
) -> Path:
    """A task family's per-instance mean return and test accuracy, with 95% intervals."""
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.9 * len(instances) + 2), 6.4), sharex=True)
    width = 0.8 / max(1, len(summaries))
    for i, (policy, rows) in enumerate(summaries.items()):
        where = [(x, rows[name]) for x, name in enumerate(instances) if rows.get(name)]
        xs = [x - 0.4 + width * (i + 0.5) for x, _ in where]
        for ax, pick, scale in (
            (axes[0], lambda s: s.returns, 1.0),
            (axes[1], lambda s: s.test_accuracy, 100.0),
        ):
            stats = [pick(s) for _, s in where]  # type: ignore[arg-type]
            errors = [0.0 if math.isnan(m.half_width) else m.half_width * scale for m in stats]
            ax.errorbar(
                xs,
                [m.mean * scale for m in stats],
                yerr=errors,
                fmt="o",
                capsize=3,
                color=f"C{i}",
                label=policy if ax is axes[0] else None,
            )
    axes[0].set_ylabel("return")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_xticks(range(len(instances)), instances, rotation=35, ha="right", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title("per instance: means and 95% intervals over seeds", fontsize=10)
    return _save(fig, path)


class IntervalRow(NamedTuple):
    """One line of :func:`intervals`: a label, its two statistics, and whether to highlight it."""

    label: str
    returns: MeanCI
    accuracy: MeanCI
    highlight: bool = False


def intervals(rows: Sequence[IntervalRow], path: Path) -> Path:
    """Mean return and test accuracy with 95% intervals, one line per row, top to bottom
    (a sweep's trials, and its baselines highlighted in another colour)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, max(2.5, 0.32 * len(rows) + 1.2)), sharey=True)
    ys = list(range(len(rows)))[::-1]  # the first row on top
    for ax, title, scale in ((axes[0], "return", 1.0), (axes[1], "test accuracy (%)", 100.0)):
        for y, row in zip(ys, rows, strict=True):
            stat = row.returns if scale == 1.0 else row.accuracy
            error = 0.0 if math.isnan(stat.half_width) else stat.half_width * scale
            colour = "tab:orange" if row.highlight else "tab:blue"
            ax.errorbar(stat.mean * scale, y, xerr=error, fmt="o", capsize=3, color=colour)
        ax.set_title(f"{title}: mean and 95% interval", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_yticks(ys, [row.label for row in rows], fontsize=8)
    return _save(fig, path)
