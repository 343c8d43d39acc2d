"""A sweep's results: one row per trial and per baseline, as a table, JSON, CSV and a figure.

``STORAGE/sweep.json`` (schema version 1)::

    {"schema_version": 1, "partial": false, "storage": PATH, "metric": "return",
     "settings": [DOTTED, ...],          the searched settings, "seed" first
     "config": {...},                    the sweep config (SweepConfig.to_dict())
     "best": NAME | null,                the finished trial with the highest mean return
     "rows": [{"name", "kind": "trial" | "baseline", "status": "done" | "failed" | "pending",
               "settings": {DOTTED: value},
               "return" | "test_accuracy": {"mean", "ci95", "n"} | null,
               "folder": relative to STORAGE, "error": one line or ""}, ...]}

``partial`` is true when trials are missing (the sweep was stopped; ``--resume`` continues it).
``STORAGE/sweep.csv`` has the same rows, one column per setting; ``STORAGE/sweep.png`` draws
every finished row's mean return and test accuracy with its 95% interval.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.common.stats import MeanCI
from simic.evaluation import figures

SCHEMA_VERSION = 1
JSON_FILE, CSV_FILE, FIGURE_FILE = "sweep.json", "sweep.csv", "sweep.png"
TRIAL, BASELINE = "trial", "baseline"
DONE, FAILED, PENDING = "done", "failed", "pending"


@dataclass(frozen=True)
class SweepRow:
    """One trial or baseline: its settings and its held-out mean return and test accuracy."""

    name: str
    kind: str
    status: str
    settings: dict[str, Any] = field(default_factory=dict)
    returns: MeanCI | None = None
    test_accuracy: MeanCI | None = None
    folder: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "settings": self.settings,
            "return": _ci_dict(self.returns),
            "test_accuracy": _ci_dict(self.test_accuracy),
            "folder": self.folder,
            "error": self.error,
        }


def _ci_dict(value: MeanCI | None) -> dict[str, float] | None:
    return None if value is None else {"mean": value.mean, "ci95": value.half_width, "n": value.n}


def best_trial(rows: Sequence[SweepRow]) -> SweepRow | None:
    """The finished trial with the highest mean return (``None`` if no trial finished)."""
    done = [r for r in rows if r.kind == TRIAL and r.returns is not None]
    return max(done, key=lambda r: r.returns.mean) if done else None  # type: ignore[union-attr]


# ----------------------------------------------------------------------------------- table
def format_value(value: Any) -> str:
    """A setting as the table and CSV show it (floats to four significant digits)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.4g}"
        return text if re.search(r"[.e]|nan|inf", text) else f"{text}.0"  # 0.0 stays a float
    return str(value)


def _label(row: SweepRow) -> str:
    return row.name if row.kind == TRIAL else f"{row.name} (baseline)"


def _figure_label(row: SweepRow) -> str:
    """The row's label with its settings (``seed=0 ent_coef=0.01``), so a figure reads alone."""
    shown = [f"{k.rsplit('.', 1)[-1]}={format_value(v)}" for k, v in row.settings.items()]
    return " ".join([_label(row), *shown])


def format_table(rows: Sequence[SweepRow], settings: Sequence[str]) -> str:
    """One line per row: its name, settings, mean return and test accuracy ± 95% CI, status."""
    cells = [["run", *settings, "return", "test accuracy %", "status"]]
    for row in rows:
        values = [format_value(row.settings.get(s)) for s in settings]
        returns = row.returns.format(1, 3) if row.returns else "-"
        accuracy = row.test_accuracy.format(100, 1) if row.test_accuracy else "-"
        cells.append([_label(row), *values, returns, accuracy, row.status])
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    numeric = range(1, len(widths) - 1)  # settings and numbers right-aligned
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- files
def _csv_text(rows: Sequence[SweepRow], settings: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    metrics = [f"{m}_{s}" for m in ("return", "test_accuracy") for s in ("mean", "ci95", "n")]
    writer.writerow(["name", "kind", "status", *settings, *metrics, "folder", "error"])
    for row in rows:
        values = [_csv_value(row.settings.get(s)) for s in settings]
        numbers = [*_cells(row.returns), *_cells(row.test_accuracy)]
        writer.writerow([row.name, row.kind, row.status, *values, *numbers, row.folder, row.error])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


def _cells(value: MeanCI | None) -> list[Any]:
    return ["", "", ""] if value is None else [value.mean, value.half_width, value.n]


def write_files(
    storage: Path,
    rows: Sequence[SweepRow],
    settings: Sequence[str],
    config: Mapping[str, Any],
    partial: bool,
) -> tuple[Path, ...]:
    """``sweep.json``, ``sweep.csv`` and ``sweep.png`` in ``storage``, each written atomically."""
    best = best_trial(rows)
    data = {
        "schema_version": SCHEMA_VERSION,
        "partial": partial,
        "storage": str(storage),
        "metric": "return",
        "settings": list(settings),
        "config": dict(config),
        "best": best.name if best else None,
        "rows": [row.to_dict() for row in rows],
    }
    files = [
        atomic_write_text(storage / JSON_FILE, json.dumps(data, indent=1)),
        atomic_write_text(storage / CSV_FILE, _csv_text(rows, settings)),
    ]
    drawn = [r for r in rows if r.returns is not None and r.test_accuracy is not None]
    if drawn:
        lines = [
            figures.IntervalRow(_figure_label(r), r.returns, r.test_accuracy, r.kind == BASELINE)  # type: ignore[arg-type]
            for r in drawn
        ]
        files.append(figures.intervals(lines, storage / FIGURE_FILE))
    return tuple(files)


def summary_from_json(data: Mapping[str, Any] | None) -> MeanCI | None:
    """A ``{"mean", "ci95", "n"}`` mapping of an evaluation's results.json as a MeanCI."""
    if data is None:
        return None
    half = data["ci95"]
    return MeanCI(float(data["mean"]), math.nan if half is None else float(half), int(data["n"]))
