"""The proof's numbers: every policy's episodes read back from its evaluation, PPO's paired
differences to every baseline, and every policy's means, each with its 95% interval.

The intervals and the family average (per seed, the mean over instances) are those of
:mod:`simic.common.stats`, which ``simic evaluate`` reports too.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.learning_proof import layout
from benchmarks.learning_proof.jobs import finished
from simic.common.stats import MeanCI, family_cis, paired_differences

Episodes = dict[tuple[str, int], dict[str, float]]
"""(instance, seed) -> {"return", "test_accuracy"}: one policy's episodes on a family."""


def read_episodes(csv_file: Path) -> dict[str, Episodes]:
    """policy -> its episodes, from an evaluation's ``episodes.csv`` (a model: its file stem)."""
    table: dict[str, Episodes] = defaultdict(dict)
    with csv_file.open() as handle:
        for row in csv.DictReader(handle):
            key = (row["instance"], int(row["seed"]))
            table[_short(row["policy"])][key] = {m: float(row[m]) for m in layout.METRICS}
    return table


def family_table(family: str, policies: Sequence[str]) -> dict[str, Episodes]:
    """The episodes of every policy evaluated on ``family`` (one not yet evaluated is absent)."""
    table: dict[str, Episodes] = {}
    for name in policies:
        folder = layout.eval_folder(family, name)
        if finished(folder):
            table.update(read_episodes(folder / "episodes.csv"))
    return table


def _short(policy: str) -> str:
    return Path(policy).stem if policy.endswith(".zip") else policy


def _metric(episodes: Episodes, metric: str) -> dict[tuple[str | None, int], float]:
    return {key: values[metric] for key, values in episodes.items()}


def paired(ours: Episodes, theirs: Episodes, metric: str) -> dict[str, Any]:
    """Per instance and family-average paired differences, mean and 95% CI over seeds."""
    diffs = paired_differences(_metric(ours, metric), _metric(theirs, metric))
    instances, family = family_cis(diffs)
    return {"family": ci(family), "instances": {str(i): ci(m) for i, m in instances.items()}}


def ci(m: MeanCI) -> dict[str, float]:
    """How the results file keeps an interval."""
    return {"mean": m.mean, "ci95": m.half_width, "low": m.low, "high": m.high, "n": m.n}


def pooled(table: Mapping[str, Episodes], runs: list[str]) -> Episodes:
    """The runs' mean per episode: one pooled PPO to compare with the baselines."""
    keys = table[runs[0]].keys()
    return {
        key: {m: statistics.fmean(table[r][key][m] for r in runs) for m in layout.METRICS}
        for key in keys
    }


def families(tables: dict[str, dict[str, Episodes]], runs: int) -> dict[str, Any]:
    """Per family: PPO (each run, pooled) - every baseline, and every policy's means.

    Only what was evaluated is compared; ``runs``/``baselines`` list it, and ``pooled`` (the
    runs' mean per episode) exists once every run is evaluated.
    """
    out: dict[str, Any] = {}
    for family, table in tables.items():
        present = [r for r in layout.run_names(runs) if r in table]
        if len(present) == runs:
            table = {**table, "pooled": pooled(table, present)}
        ppos = [p for p in (*present, "pooled") if p in table]
        bases = [b for b in layout.BASELINES if b in table]
        out[family] = {
            "runs": present,
            "baselines": bases,
            "complete": len(present) == runs and len(bases) == len(layout.BASELINES),
            "paired": {
                ppo: {
                    b: {m: paired(table[ppo], table[b], m) for m in layout.METRICS} for b in bases
                }
                for ppo in ppos
            },
            "means": {policy: means(episodes) for policy, episodes in table.items()},
        }
    return out


def means(episodes: Episodes) -> dict[str, dict[str, dict[str, float]]]:
    """Per instance and for the family average (per seed, the mean over instances)."""
    cells = {m: family_cis(_metric(episodes, m)) for m in layout.METRICS}
    rows = {
        str(instance): {m: ci(cells[m][0][instance]) for m in layout.METRICS}
        for instance in cells[layout.METRICS[0]][0]
    }
    rows["family average"] = {m: ci(cells[m][1]) for m in layout.METRICS}
    return rows
