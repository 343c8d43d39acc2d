"""Evaluating growth policies on held-out episodes: a table, results files and figures.

Episodes use seeds ``seed .. seed + episodes - 1`` (training draws its episode seeds from
[10**9, 2 * 10**9), see :mod:`simic.common.seeding`, so the two never meet). Every policy
plays the same seeds, so comparisons are paired.

**Task families** (``--env simic/Grow-Family-v0``, :data:`envs.FAMILIES`): every policy plays
every instance of the family with every seed, the instance chosen explicitly with
``reset(options={"instance": ...})`` rather than drawn, so all policies meet the same
(instance, seed) pairs. The table then has one row per instance per policy (mean ± 95% CI over
the seeds) and a **family average** row: the mean over instances of the per-instance means,
with a 95% t-interval over the per-seed family averages (for each seed, the mean over instances
of that seed's episodes). The seed is the unit of replication: the instances are fixed, not
sampled, so their spread is not noise, and one seed's family average is paired across policies
(the same seed on every instance), so differences of family averages pair by seed too. Only
seeds played on every instance count towards the family row (an interrupted run may lack some).

The files it writes (``results.json``, ``episodes.csv``, the figures) are described in
:mod:`simic.evaluation.files`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from simic.common.envutil import check_env_kwargs
from simic.common.printing import Printer
from simic.common.raysupport import DEFAULT
from simic.common.runfolder import claim
from simic.common.signals import exit_status, sigterm_interrupts
from simic.evaluation.batched import play_batched
from simic.evaluation.config import EvaluateConfig, family_instances
from simic.evaluation.files import (
    OUTPUT_FILES,
    write_outputs,
)
from simic.evaluation.report import (
    EvaluatedEpisode,
    EvaluationReport,
    PolicySummary,
    family_summary,
    format_report,
    summarize,
)
from simic.evaluation.workers import WorkerDiedError, play_jobs
from simic.policies import (
    make_policy,
)

WORKER_DIED = 1
"""Exit status of an evaluation whose worker process died: its results are partial."""

__all__ = ["WORKER_DIED", "EvaluateConfig", "evaluate"]


# ----------------------------------------------------------------------------------- episodes
def _run_all(config: EvaluateConfig, out: Printer) -> tuple[dict[str, list[EvaluatedEpisode]], int]:
    """Every episode by policy, and 0 or the exit status of an interruption.

    Ctrl-C or SIGTERM stops the evaluation but keeps the episodes that finished.
    """
    model_dir = str(Path(config.out) / "models") if config.save_model and config.out else None
    instances = family_instances(config.env) or (None,)
    jobs = [
        (
            *(config.env, dict(config.env_kwargs), spec, seed),
            *(config.device, model_dir, config.transfer, instance),
        )
        for spec in config.policies
        for instance in instances
        for seed in config.seeds
    ]
    per_instance = "" if instances == (None,) else f" x {len(instances)} instances"
    where = f"{config.n_envs} worker(s)" if config.ray is None else f"Ray ({_ray_name(config.ray)})"
    if config.batched:
        where = f"batches of {config.n_envs} in one process"
    out(
        f"evaluating {len(config.policies)} policies{per_instance} x {config.episodes} episodes "
        f"(seeds {config.seeds[0]}..{config.seeds[-1]}) on {config.env}, {where}"
    )
    rows: dict[int, EvaluatedEpisode] = {}
    status = 0
    with sigterm_interrupts():
        try:
            if config.batched:
                play_batched(jobs, config.n_envs, rows)
            else:
                play_jobs(jobs, config.n_envs, config.ray, rows)
        except KeyboardInterrupt as stop:
            status = exit_status(stop)
            out(f"stopped by {stop.__class__.__name__}: {len(rows)} of {len(jobs)} episodes done")
        except WorkerDiedError:
            status = WORKER_DIED
            out(
                f"a worker process died (killed, or out of memory): {len(rows)} of {len(jobs)} "
                "episodes done; run the evaluation again"
            )
    results: dict[str, list[EvaluatedEpisode]] = {spec: [] for spec in config.policies}
    for index, job in enumerate(jobs):
        if index in rows:
            results[job[2]].append(rows[index])
    return results, status


def _ray_name(address: str) -> str:
    return "RAY_ADDRESS, else local" if address == DEFAULT else address


# ----------------------------------------------------------------------------------- entry
def _validate(config: EvaluateConfig) -> str:
    """Check the env kwargs and every policy before any episode runs.

    Returns the task's name; a family's tasks joined by ``+`` (``"digits+mnist1d"``).
    """
    env = check_env_kwargs(config.env, config.env_kwargs)
    for spec in config.policies:
        make_policy(spec, env, device=config.device, transfer=config.transfer)
    if env.family is not None:
        return "+".join(sorted({i.task for i in env.family.instances}))
    return env.task.name


def _with_family_summaries(report: EvaluationReport) -> EvaluationReport:
    """The report with its per-instance and family summaries filled in."""
    per_instance: dict[str, dict[str, PolicySummary | None]] = {}
    family: dict[str, PolicySummary | None] = {}
    for policy, played in report.results().items():
        per_instance[policy] = {
            name: summarize(policy, [r for r in played if r.instance == name])
            for name in report.instances
        }
        family[policy] = family_summary(policy, played, report.instances)
    return dataclasses.replace(report, instance_summaries=per_instance, family_summaries=family)


def evaluate(
    config: EvaluateConfig,
    out: Printer = print,
    table: Callable[[EvaluationReport], str] = format_report,
) -> EvaluationReport:
    """Run every policy on the configured seeds, print ``table(report)``, write the outputs.

    With ``config.out``, this process owns that folder while it evaluates
    (:func:`simic.common.runfolder.claim`): a second evaluation into it is refused, and the
    folder ends holding this evaluation's files only. Interrupted (Ctrl-C or SIGTERM), it keeps
    the finished episodes: the report and ``results.json`` are marked partial and carry the
    signal's exit status.
    """
    if config.out is None:
        return _evaluate(config, None, out, table)
    folder = Path(config.out)
    with claim(folder, "output folder", files=OUTPUT_FILES):
        return _evaluate(config, folder, out, table)


def _evaluate(
    config: EvaluateConfig,
    folder: Path | None,
    out: Printer,
    table: Callable[[EvaluationReport], str],
) -> EvaluationReport:
    task = _validate(config)
    episodes, status = _run_all(config, out)
    summaries = {p: summarize(p, [ep.result for ep in episodes[p]]) for p in config.policies}
    report = EvaluationReport(
        config,
        task,
        episodes,
        summaries,
        exit_status=status,
        instances=family_instances(config.env),
    )
    if report.instances:
        report = _with_family_summaries(report)
    out(table(report))
    if folder is not None:
        files = write_outputs(report, folder)
        report = dataclasses.replace(report, files=files)
        out(f"wrote {', '.join(str(f) for f in files)}")
    return report
