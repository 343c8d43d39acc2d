"""The proof's report: the results file, the markdown report, the figures, the README's table.

Everything is drawn from the evaluations on disk (:mod:`benchmarks.learning_proof.statistics`),
so ``--report-only`` redraws it all; wall times the disk no longer has are kept from the
previous results file. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common.jobs import read_wall
from benchmarks.learning_proof import layout
from benchmarks.learning_proof.statistics import families, family_table
from envs.atomic import atomic_write_text
from simic.common.envutil import load_config_file
from simic.common.stats import MeanCI
from simic.evaluation import figures
from simic.training.config import PPOConfig, TrainConfig


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (a recipe may live anywhere)."""
    resolved = path.resolve()
    return (
        str(resolved.relative_to(layout.ROOT))
        if resolved.is_relative_to(layout.ROOT)
        else str(resolved)
    )


def _recorded_wall(recipe: dict[str, Any]) -> dict[str, Any]:
    """The wall times of the results file on disk, if the same recipe made it (else empty)."""
    path = layout.RESULTS / "learning_proof.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    return recorded.get("wall_s", {}) if recorded.get("recipe") == recipe else {}


def _pm(cell: dict[str, float], scale: float = 1.0, digits: int = 3) -> str:
    return f"{cell['mean'] * scale:+.{digits}f} ± {cell['ci95'] * scale:.{digits}f}"


def _verdict(cell: dict[str, float]) -> str:
    return "above 0" if cell["low"] > 0 else "below 0" if cell["high"] < 0 else "includes 0"


def markdown(result: dict[str, Any]) -> str:
    """The full report: paired family averages, per-instance rows and the wall times."""
    lines = ["# Learning proof", "", *_wall_lines(result["wall_s"]), ""]
    for family in layout.FAMILIES:
        fam = result["families"][family]
        ppos, bases = list(fam["paired"]), fam["baselines"]
        if not fam["complete"]:
            lines += [f"**{family}: partial** (evaluated so far: {', '.join(fam['means'])})", ""]
        if not ppos or not bases:
            continue
        for metric, label, scale, digits in (
            ("return", "return", 1, 3),
            ("test_accuracy", "test accuracy (points)", 100, 1),
        ):
            lines += [f"## {family}: family-average {label}, PPO − baseline (95% CI)", ""]
            lines += ["| PPO | " + " | ".join(bases) + " |", "|---" * (len(bases) + 1) + "|"]
            for ppo in ppos:
                cells = [_pm(fam["paired"][ppo][b][metric]["family"], scale, digits) for b in bases]
                lines.append(f"| {ppo} | " + " | ".join(cells) + " |")
            lines.append("")
        if "heuristic" in bases:
            lines += _versus_heuristic(family, fam, ppos)
        lines += [*_means_table(fam["means"]), ""]
    return "\n".join([*lines, *attempts_table(result)])


def attempts_table(result: dict[str, Any]) -> list[str]:
    """One row per recipe tried: each archived attempt, then this report."""
    rows = [
        (folder.name, json.loads((folder / "learning_proof.json").read_text()), folder / "models")
        for folder in (sorted(layout.ATTEMPTS.iterdir()) if layout.ATTEMPTS.is_dir() else [])
        if (folder / "learning_proof.json").is_file()
    ]
    rows.append(("this report", result, None))
    family, bases = layout.TRAINING_FAMILY, ("heuristic", "heuristic-tuned", "schedule-best")
    lines = [
        "## Every recipe tried (family-average return, PPO pooled − baseline, 95% CI)",
        "",
        "| attempt | recipe | " + " | ".join(bases) + " | runs ≥ schedule-best "
        "| runs never worse than the heuristic "
        f"| {layout.short(layout.HELD_OUT_FAMILY)}: − heuristic |",
        "|---" * (len(bases) + 5) + "|",
    ]
    for name, res, models in rows:
        recipe = res.get("recipe") or _archived_recipe(models)
        fam, held = res["families"][family], res["families"][layout.HELD_OUT_FAMILY]
        cells = [name, _recipe_summary(recipe)]
        cells += [_pooled_cell(fam, b) for b in bases]
        at_least = [cell["family"]["mean"] >= 0 for cell in _per_run(fam, "schedule-best")]
        cells += [f"{sum(at_least)}/{len(at_least)}", _never_worse(fam)]
        cells.append(_pooled_cell(held, "heuristic"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _per_run(fam: dict[str, Any], baseline: str) -> list[dict[str, Any]]:
    """Each run's paired return cells against ``baseline`` (runs not yet evaluated left out)."""
    return [
        fam["paired"][r][baseline]["return"]
        for r in fam["runs"]
        if baseline in fam["paired"].get(r, {})
    ]


def _never_worse(fam: dict[str, Any]) -> str:
    """Runs with no training instance significantly worse than the heuristic (CI below 0)."""
    fine = [
        all(_verdict(cell) != "below 0" for cell in run["instances"].values())
        for run in _per_run(fam, "heuristic")
    ]
    return f"{sum(fine)}/{len(fine)}"


def _archived_recipe(models: Path | None) -> dict[str, Any]:
    path = None if models is None else models / layout.RECIPE.name
    return load_config_file(path) if path is not None and path.is_file() else {}


def _recipe_summary(recipe: dict[str, Any]) -> str:
    defaults = {"": TrainConfig(), "ppo": PPOConfig()}  # what a key left out means
    parts = []
    for key in layout.RECIPE_KEYS:
        section, _, name = key.rpartition(".")
        value = recipe.get(section, {}).get(name) if section else recipe.get(name)
        if value is None:
            value = getattr(defaults[section], name)
        parts.append(f"{name}={value}")
    return ", ".join(parts) if recipe else "?"


def _pooled_cell(fam: dict[str, Any], baseline: str) -> str:
    cell = fam["paired"].get("pooled", {}).get(baseline)
    return _pm(cell["return"]["family"]) if cell else ""


def _versus_heuristic(family: str, fam: dict[str, Any], ppos: list[str]) -> list[str]:
    """Per instance: return PPO − heuristic; at param_rent 0 also test accuracy (points)."""
    lines = [f"## {family}: per instance, return PPO − heuristic (95% CI)", ""]
    lines += ["| instance | " + " | ".join(ppos) + " |", "|---" * (len(ppos) + 1) + "|"]
    ret = {p: fam["paired"][p]["heuristic"]["return"]["instances"] for p in ppos}
    acc = {p: fam["paired"][p]["heuristic"]["test_accuracy"]["instances"] for p in ppos}
    for inst in ret[ppos[0]]:
        lines.append(f"| {inst} | " + " | ".join(_pm(ret[p][inst]) for p in ppos) + " |")
    free = [i for i in acc[ppos[0]] if i.endswith("-rent0")]
    if free:
        lines += ["", "At param_rent 0, test accuracy PPO − heuristic (points, 95% CI):", ""]
        lines += ["| instance | " + " | ".join(ppos) + " |", "|---" * (len(ppos) + 1) + "|"]
        for inst in free:
            cells = [_pm(acc[p][inst], scale=100, digits=1) for p in ppos]
            lines.append(f"| {inst} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _wall_lines(wall: dict[str, Any]) -> list[str]:
    runs = ", ".join(f"{k} {v / 60:.1f} min" for k, v in wall["train_per_run"].items() if v)
    return [
        f"Training wall time per run (one training at a time, its env processes on "
        f"{wall['parallel']} cores; summed over resumed sessions): {runs}.",
        f"Evaluation: {wall['evaluate'] / 60:.1f} min of wall time summed over "
        f"{wall['evaluations']} evaluation jobs ({wall['parallel']} at a time, one core each); "
        f"the proof's invocation: {_minutes(wall['invocation'])}.",
    ]


def _minutes(seconds: float | None) -> str:
    return "not recorded" if seconds is None else f"{seconds / 60:.1f} min"


def _means_table(means: dict[str, Any]) -> list[str]:
    policies = sorted(means, key=lambda p: (p != "pooled", p.startswith("run"), p))
    instances = list(means[policies[0]])
    lines = ["Mean return per instance:", ""]
    lines += ["| policy | " + " | ".join(instances) + " |", "|---" * (len(instances) + 1) + "|"]
    for p in policies:
        row = means[p]
        lines.append(
            f"| {p} | " + " | ".join(f"{row[i]['return']['mean']:.3f}" for i in instances) + " |"
        )
    return lines


def headline(result: dict[str, Any]) -> str:
    """The README's table: every policy's family average, and PPO's paired differences."""
    runs = len(result["wall_s"]["train_per_run"])
    lines = [
        f"{runs} PPO runs of `{Path(result['config']).name}`, {result['episodes']} held-out "
        "episode seeds per instance; ± is a 95% interval. PPO is the runs pooled (the mean of "
        "the runs per episode); differences are paired by instance and seed "
        "(`benchmarks/results/learning_proof.md` has every run and instance).",
        "",
        "| family | policy | return | test accuracy | PPO − policy (return) "
        "| runs with CI above 0 |",
        "|---|---|---|---|---|---|",
    ]
    for family in layout.FAMILIES:
        fam = result["families"][family]
        for policy in [p for p in ("pooled", *layout.BASELINES) if p in fam["means"]]:
            avg = fam["means"][policy]["family average"]
            acc = avg["test_accuracy"]
            cells = [layout.short(family), "PPO" if policy == "pooled" else policy]
            cells += [
                _pm(avg["return"]).lstrip("+"),
                f"{100 * acc['mean']:.1f} ± {100 * acc['ci95']:.1f} %",
            ]
            if policy == "pooled" or "pooled" not in fam["paired"]:
                cells += ["", ""]
            else:
                diff = fam["paired"]["pooled"][policy]["return"]["family"]
                wins = sum(
                    fam["paired"][r][policy]["return"]["family"]["low"] > 0 for r in fam["runs"]
                )
                cells += [_pm(diff), f"{wins}/{runs}"]
            lines.append("| " + " | ".join(cells) + " |")
    if not all(result["families"][f]["complete"] for f in layout.FAMILIES):
        lines += ["", "*Partial: not every run and baseline has been evaluated yet.*"]
    return "\n".join(lines)


def write_readme(table: str, readme: Path | None = None) -> None:
    """Put ``table`` between the README's learning-proof markers."""
    readme = readme or layout.README
    text = readme.read_text()
    pattern = re.compile(
        re.escape(layout.README_START) + r".*?" + re.escape(layout.README_END), re.S
    )
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no learning-proof markers ({layout.README_START!r})")
    block = f"{layout.README_START}\n{table}\n{layout.README_END}"
    atomic_write_text(readme, pattern.sub(lambda _: block, text))


@dataclass(frozen=True)
class _Summary:
    """What :func:`simic.evaluation.figures.per_instance` reads of a policy's row."""

    returns: MeanCI
    test_accuracy: MeanCI


def draw(result: dict[str, Any], family: str, path: Path) -> Path:
    """Per-instance return and test accuracy, with 95% intervals, for every policy."""
    means = result["families"][family]["means"]
    policies = [p for p in means if p != "pooled"]
    if not policies:
        return path
    instances = list(means[policies[0]])
    summaries = {
        ("PPO " + p if p.startswith("run") else p): {
            i: _Summary(*(_meanci(means[p][i][m]) for m in layout.METRICS)) for i in instances
        }
        for p in policies
    }
    return figures.per_instance(summaries, instances, path)


def _meanci(cell: dict[str, float]) -> MeanCI:
    return MeanCI(cell["mean"], cell["ci95"], int(cell["n"]))


def _wall_times(
    names: list[str], parallel: int, recipe: dict[str, Any], invocation_s: float | None
) -> dict[str, Any]:
    """The jobs' wall times on disk; those the disk no longer has (the raw run and evaluation
    folders are not committed) are kept from the previous results file of the same recipe."""
    evals = [
        layout.eval_wall_file(f, p) for f in layout.FAMILIES for p in [*layout.BASELINES, *names]
    ]
    before = _recorded_wall(recipe)  # another recipe's times never stand in for this one's
    train_s = {r: read_wall(layout.RUNS / r / layout.WALL_FILE) for r in names}
    eval_s = [w for w in map(read_wall, evals) if w is not None]
    return {
        "train_per_run": {
            r: before.get("train_per_run", {}).get(r) if s is None else s
            for r, s in train_s.items()
        },
        "evaluate": sum(eval_s) if eval_s else before.get("evaluate", 0.0),
        "evaluations": len(evals),
        "parallel": parallel,
        "invocation": before.get("invocation") if invocation_s is None else invocation_s,
    }


def write_report(args: argparse.Namespace, invocation_s: float | None) -> dict[str, Any]:
    """Report from the evaluations on disk; ``invocation_s=None`` (``--report-only``) keeps the
    recorded proof's wall time. Wall times the disk no longer has (the raw run and evaluation
    folders are not committed) are kept from the previous results file."""
    names = layout.run_names(args.runs)
    tables = {f: family_table(f, [*layout.BASELINES, *names]) for f in layout.FAMILIES}
    recipe = load_config_file(args.config)
    result = {
        "wall_s": _wall_times(names, args.parallel, recipe, invocation_s),
        "config": _shown(args.config),
        "recipe": recipe,
        "episodes": args.episodes,
        "seed": args.seed,
        "families": families(tables, args.runs),
    }
    atomic_write_text(layout.RESULTS / "learning_proof.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(layout.RESULTS / "learning_proof.md", markdown(result) + "\n")
    for family in layout.FAMILIES:
        draw(result, family, layout.RESULTS / f"learning_proof_{layout.short(family)}.png")
    write_readme(headline(result))
    print(markdown(result))
    return result
