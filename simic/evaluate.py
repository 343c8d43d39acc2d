"""Evaluating growth policies on held-out episodes: a table, results files and figures.

Episodes use seeds ``seed .. seed + episodes - 1`` (training draws its episode seeds from
[10**9, 2 * 10**9), see :mod:`simic.seeding`, so the two never meet). Every policy plays the same
seeds, so comparisons are paired.

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
:mod:`simic.evaluation_files`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import re
import signal
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import envs
from kasmina.errors import UserError
from kasmina.validation import require_device, require_int
from simic.envutil import check_env_kwargs, make_env, resolve_env_id
from simic.errors import SimicError
from simic.evaluation_files import (
    CSV_COLUMNS,
    OUTPUT_FILES,
    SCHEMA_VERSION,
    EvaluatedEpisode,
    episode_record,
    write_outputs,
)
from simic.options import doc
from simic.policies import (
    FAMILY_POLICY_NAMES,
    POLICY_NAMES,
    EpisodeResult,
    list_policies,
    make_policy,
    run_episode,
)
from simic.raysupport import LOCAL, ray_session, require_ray
from simic.runfolder import claim
from simic.signals import exit_status, sigterm_interrupts
from simic.stats import MeanCI, mean_ci

Printer = Callable[[str], None]

__all__ = [  # the file helpers are re-exported: they lived here before simic.evaluation_files
    "CSV_COLUMNS",
    "SCHEMA_VERSION",
    "EvaluateConfig",
    "EvaluatedEpisode",
    "EvaluationReport",
    "PolicySummary",
    "episode_record",
    "evaluate",
    "family_summary",
    "format_table",
    "summarize",
    "write_outputs",
]


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``simic evaluate`` runs (each field's help is its ``--help`` line)."""

    env: str = field(default="simic/Grow-MNIST1D-v0", metadata=doc("environment id"))
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata=doc("environment keyword arguments, e.g. budget=20")
    )
    policies: tuple[str, ...] = field(
        default=POLICY_NAMES,
        metadata=doc(
            f"{', '.join(list_policies())}, a run folder of 'simic train' (either --engine) or "
            f"a model .zip, repeatable (default: {', '.join(POLICY_NAMES)}; "
            f"{', '.join(FAMILY_POLICY_NAMES)} play task families only)",
            flag="--policy",
            metavar="POLICY",
        ),
    )
    episodes: int = field(default=10, metadata=doc("episodes per policy"))
    seed: int = field(
        default=1000, metadata=doc("first episode seed; episodes use SEED..SEED+EPISODES-1")
    )
    n_envs: int = field(default=1, metadata=doc("worker processes, parallel above 1"))
    ray: str | None = field(
        default=None,
        metadata=doc(
            "play the episodes as Ray tasks: alone, on a local Ray with this machine's cores "
            "(or the cluster RAY_ADDRESS names); with an ADDRESS, on that cluster (needs the "
            "[ray] extra; the numbers are those of a local evaluation)",
            metavar="ADDRESS",
            const=LOCAL,
        ),
    )
    out: str | None = field(
        default=None, metadata=doc("folder for results.json, episodes.csv and figures")
    )
    save_model: bool = field(
        default=False, metadata=doc("export each episode's grown network to OUT/models")
    )
    device: str = field(default="cpu", metadata=doc("torch device for PPO policies"))
    transfer: bool = field(
        default=False,
        metadata=doc(
            "let a model play an environment other than the one it was trained on (a "
            "transfer experiment; the spaces must still have the same shape)"
        ),
    )

    def __post_init__(self) -> None:
        resolve_env_id(self.env)
        require_device("device", self.device, allow_auto=True, error=SimicError)
        object.__setattr__(self, "policies", tuple(self.policies))
        if not self.policies:
            raise SimicError("evaluate needs at least one --policy")
        if len(set(self.policies)) != len(self.policies):
            raise SimicError(f"a policy is listed twice: {list(self.policies)}")
        for name, low in (("episodes", 1), ("seed", 0), ("n_envs", 1)):
            require_int(name, getattr(self, name), low, SimicError)
        if self.seed + self.episodes > 10**9:
            raise SimicError(
                "evaluation seeds must stay below 10**9 (training uses [10**9, 2*10**9))"
            )
        if self.save_model and self.out is None:
            raise SimicError("--save-model needs --out")
        if self.ray is not None:
            if self.n_envs != 1:
                raise SimicError("--ray plays episodes as Ray tasks; leave --n-envs out")
            require_ray("simic evaluate --ray")  # before any work: one line if not installed

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.episodes))


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
    """0 when every episode ran; 130 (Ctrl-C) or 143 (SIGTERM) for a partial evaluation."""
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


# ----------------------------------------------------------------------------------- episodes
# One env and policy per worker, reused across its episodes. The key holds everything that
# defines an episode, so two evaluations in one process never share an env by mistake.
_WORKER_CACHE: dict[tuple[str, str, str, str, bool], tuple[Any, Any]] = {}


def family_instances(env_id: str) -> tuple[str, ...]:
    """The instance names of a task-family id (empty for any other id)."""
    family = envs.FAMILIES.get(env_id)
    return family.names if family is not None else ()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "policy"


def _play(
    env_id: str,
    env_kwargs: dict[str, Any],
    spec: str,
    seed: int,
    device: str,
    model_dir: str | None,
    transfer: bool = False,
    instance: str | None = None,
) -> EvaluatedEpisode:
    """One episode of ``spec`` on ``seed`` (and a family's ``instance``), in a worker or here."""
    key = (env_id, json.dumps(env_kwargs, sort_keys=True), spec, device, transfer)
    if key not in _WORKER_CACHE:
        env = make_env(env_id, env_kwargs)
        policy = make_policy(spec, env.unwrapped, device=device, transfer=transfer)
        _WORKER_CACHE[key] = (env, policy)
    env, policy = _WORKER_CACHE[key]
    options = None if instance is None else {"instance": instance}
    result = run_episode(env, policy, seed, options)
    if model_dir is None:
        return EvaluatedEpisode(result)
    from simic.export import export_grown_model

    where = "" if instance is None else f"_{_slug(instance)}"
    path = Path(model_dir) / f"{_slug(spec)}{where}_seed{seed}.pt"
    metadata: dict[str, Any] = {"policy": spec, "seed": seed}
    if instance is not None:
        metadata["instance"] = instance
    export_grown_model(env.unwrapped, path, metadata=metadata)
    return EvaluatedEpisode(result, str(Path("models") / path.name))


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
    where = f"{config.n_envs} worker(s)" if config.ray is None else f"Ray ({config.ray})"
    out(
        f"evaluating {len(config.policies)} policies{per_instance} x {config.episodes} episodes "
        f"(seeds {config.seeds[0]}..{config.seeds[-1]}) on {config.env}, {where}"
    )
    rows: dict[int, EvaluatedEpisode] = {}
    status = 0
    with sigterm_interrupts():
        try:
            if config.ray is not None:
                _play_on_ray(jobs, config.ray, rows)
            elif config.n_envs == 1:
                for index, job in enumerate(jobs):
                    rows[index] = _play(*job)
            else:
                _play_in_pool(jobs, config.n_envs, rows)
        except KeyboardInterrupt as stop:
            status = exit_status(stop)
            out(f"stopped by {stop.__class__.__name__}: {len(rows)} of {len(jobs)} episodes done")
    results: dict[str, list[EvaluatedEpisode]] = {spec: [] for spec in config.policies}
    for index, job in enumerate(jobs):
        if index in rows:
            results[job[2]].append(rows[index])
    return results, status


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _play_in_pool(
    jobs: list[tuple[Any, ...]], workers: int, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` in ``workers`` processes, filling ``rows`` as results arrive."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = context.Pool(workers, initializer=_ignore_sigint)
    pending = {index: pool.apply_async(_play, job) for index, job in enumerate(jobs)}
    try:
        for index, result in pending.items():
            rows[index] = result.get()
    except KeyboardInterrupt:
        for index, result in pending.items():  # keep what finished out of order
            if index not in rows and result.ready() and result.successful():
                rows[index] = result.get()
        raise
    finally:
        pool.terminate()  # an interrupted evaluation does not wait for running episodes
        pool.join()


def _play_on_ray(
    jobs: list[tuple[Any, ...]], address: str, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` as Ray tasks (one CPU each), filling ``rows`` as results arrive.

    Each Ray worker keeps its env and policy between episodes (:data:`_WORKER_CACHE`), as a
    pool worker does. An error a user caused in a task (a model for another env, say) is
    raised here as itself, not wrapped in Ray's traceback.
    """
    with ray_session("simic evaluate --ray", address) as ray:
        play = ray.remote(num_cpus=1, max_retries=0)(_play)
        refs = [play.remote(*job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    rows[index[ref]] = ray.get(ref)
        except ray.exceptions.RayTaskError as failure:
            if isinstance(failure.cause, UserError | SimicError):
                raise failure.cause from None
            raise
        finally:
            for ref in pending:  # an interrupted evaluation does not wait for running episodes
                ray.cancel(ref, force=True)


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
    by_seed: dict[int, dict[str | None, EpisodeResult]] = {}
    for result in results:
        by_seed.setdefault(result.seed, {})[result.instance] = result
    complete = [eps for _, eps in sorted(by_seed.items()) if all(i in eps for i in instances)]
    if not complete:
        return None

    def per_seed(metric: Callable[[EpisodeResult], float]) -> list[float]:
        return [statistics.fmean(metric(eps[i]) for i in instances) for eps in complete]

    return PolicySummary(
        policy,
        mean_ci(per_seed(lambda r: r.return_)),
        mean_ci(per_seed(lambda r: r.test_accuracy)),
        mean_ci(per_seed(lambda r: r.param_growth)),
        statistics.fmean(per_seed(lambda r: r.seeds_germinated)),
        statistics.fmean(per_seed(lambda r: r.seeds_fossilized)),
        statistics.fmean(per_seed(lambda r: r.seeds_pruned)),
    )


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


def format_table(summaries: Mapping[str, PolicySummary | None]) -> str:
    """One row per policy: means ± 95% confidence half-widths."""
    lines = _header("policy", 24)
    lines += [_row(s.policy, s, 24) for s in summaries.values() if s is not None]
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


def evaluate(config: EvaluateConfig, out: Printer = print) -> EvaluationReport:
    """Run every policy on the configured seeds, print the table, write the outputs.

    With ``config.out``, this process owns that folder while it evaluates
    (:func:`simic.runfolder.claim`): a second evaluation into it is refused, and the folder ends
    holding this evaluation's files only. Interrupted (Ctrl-C or SIGTERM), it keeps the finished
    episodes: the report and ``results.json`` are marked partial and carry the signal's exit
    status.
    """
    if config.out is None:
        return _evaluate(config, None, out)
    folder = Path(config.out)
    with claim(folder, "output folder", files=OUTPUT_FILES):
        return _evaluate(config, folder, out)


def _evaluate(config: EvaluateConfig, folder: Path | None, out: Printer) -> EvaluationReport:
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
        out(format_family_table(report.instance_summaries, report.family_summaries))
    else:
        out(format_table(summaries))
    if folder is not None:
        files = write_outputs(report, folder)
        report = dataclasses.replace(report, files=files)
        out(f"wrote {', '.join(str(f) for f in files)}")
    return report
