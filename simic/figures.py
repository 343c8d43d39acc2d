"""Figures of an evaluation: what a person would rather look at than read."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt

from envs.actions import ActionKind
from envs.atomic import atomic_write_bytes
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
