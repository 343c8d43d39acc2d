"""Evaluating growth policies on held-out episodes: a table, results files and figures.

Episodes use seeds ``seed .. seed + episodes - 1`` (training draws its episode seeds from
[10**9, 2 * 10**9), see :mod:`simic.seeding`, so the two never meet). Every policy plays the same
seeds, so comparisons are paired.

The files it writes (``results.json``, ``episodes.csv``, the figures) are described in
:mod:`simic.results_files`.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import re
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasmina.validation import require_device, require_int
from simic.envutil import check_env_kwargs, make_env, resolve_env_id
from simic.errors import SimicError
from simic.evaluation_files import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    EvaluatedEpisode,
    episode_record,
    write_outputs,
)
from simic.options import doc
from simic.policies import POLICY_NAMES, EpisodeResult, make_policy, run_episode
from simic.runfolder import ensure_writable_folder
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
            "a baseline's name or a model .zip from 'simic train', repeatable",
            flag="--policy",
            metavar="POLICY",
        ),
    )
    episodes: int = field(default=10, metadata=doc("episodes per policy"))
    seed: int = field(
        default=1000, metadata=doc("first episode seed; episodes use SEED..SEED+EPISODES-1")
    )
    n_envs: int = field(default=1, metadata=doc("worker processes, parallel above 1"))
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
        def ci(m: MeanCI) -> dict[str, float]:
            return {"mean": m.mean, "ci95": m.half_width, "n": m.n}

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
) -> EvaluatedEpisode:
    """One episode of ``spec`` on ``seed`` (in a worker process or in-process)."""
    key = (env_id, json.dumps(env_kwargs, sort_keys=True), spec, device, transfer)
    if key not in _WORKER_CACHE:
        env = make_env(env_id, env_kwargs)
        policy = make_policy(spec, env.unwrapped, device=device, transfer=transfer)
        _WORKER_CACHE[key] = (env, policy)
    env, policy = _WORKER_CACHE[key]
    result = run_episode(env, policy, seed)
    if model_dir is None:
        return EvaluatedEpisode(result)
    from simic.export import export_grown_model

    path = Path(model_dir) / f"{_slug(spec)}_seed{seed}.pt"
    export_grown_model(env.unwrapped, path, metadata={"policy": spec, "seed": seed})
    return EvaluatedEpisode(result, str(Path("models") / path.name))


def _run_all(config: EvaluateConfig, out: Printer) -> tuple[dict[str, list[EvaluatedEpisode]], int]:
    """Every episode by policy, and 0 or the exit status of an interruption.

    Ctrl-C or SIGTERM stops the evaluation but keeps the episodes that finished.
    """
    model_dir = str(Path(config.out) / "models") if config.save_model and config.out else None
    jobs = [
        (config.env, dict(config.env_kwargs), spec, seed, config.device, model_dir, config.transfer)
        for spec in config.policies
        for seed in config.seeds
    ]
    out(
        f"evaluating {len(config.policies)} policies x {config.episodes} episodes "
        f"(seeds {config.seeds[0]}..{config.seeds[-1]}) on {config.env}, "
        f"{config.n_envs} worker(s)"
    )
    rows: dict[int, EvaluatedEpisode] = {}
    status = 0
    with sigterm_interrupts():
        try:
            if config.n_envs == 1:
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


# ----------------------------------------------------------------------------------- outputs
def format_table(summaries: Mapping[str, PolicySummary | None]) -> str:
    """One row per policy: means ± 95% confidence half-widths."""
    header = (
        f"{'policy':<24} {'return':>17} {'test accuracy %':>17} {'param growth':>15} "
        f"{'germ.':>6} {'foss.':>6} {'pruned':>6}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries.values():
        if s is None:
            continue
        name = s.policy if len(s.policy) <= 24 else "…" + s.policy[-23:]
        lines.append(
            f"{name:<24} {s.returns.format(1, 3):>17} "
            f"{s.test_accuracy.format(100, 1):>17} {s.param_growth.format(1, 2):>15} "
            f"{s.germinated:>6.1f} {s.fossilized:>6.1f} {s.pruned:>6.1f}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- entry
def _validate(config: EvaluateConfig) -> str:
    """Check the output folder, env kwargs and every policy before any episode runs."""
    if config.out is not None:
        ensure_writable_folder(Path(config.out), "output folder")
    env = check_env_kwargs(config.env, config.env_kwargs)
    for spec in config.policies:
        make_policy(spec, env, device=config.device, transfer=config.transfer)
    return env.task.name


def evaluate(config: EvaluateConfig, out: Printer = print) -> EvaluationReport:
    """Run every policy on the configured seeds, print the table, write the outputs.

    Interrupted (Ctrl-C or SIGTERM), it keeps the finished episodes: the report and
    ``results.json`` are marked partial and carry the signal's exit status.
    """
    task = _validate(config)
    episodes, status = _run_all(config, out)
    summaries = {p: summarize(p, [ep.result for ep in episodes[p]]) for p in config.policies}
    report = EvaluationReport(config, task, episodes, summaries, exit_status=status)
    out(format_table(summaries))
    if config.out is not None:
        files = write_outputs(report, Path(config.out))
        report = dataclasses.replace(report, files=files)
        out(f"wrote {', '.join(str(f) for f in files)}")
    return report
