"""Evaluating growth policies on held-out episodes: a table, results files and figures.

Episodes use seeds ``seed .. seed + episodes - 1`` (training draws its episode seeds from
[10**9, 2 * 10**9), see :mod:`simic.seeding`, so the two never meet). Every policy plays the same
seeds, so comparisons are paired.

``OUT/results.json`` (schema version 1)::

    {"schema_version": 1, "partial": false, "env": ID, "env_kwargs": {...}, "task": NAME,
     "seeds": [...],
     "policies": [{"policy": SPEC,
                   "summary": {"return" | "test_accuracy" | "param_growth":
                                   {"mean": x, "ci95": half-width, "n": n},
                               "seeds_germinated" | "seeds_fossilized" | "seeds_pruned": mean},
                   "episodes": [{"seed", "return", "test_accuracy", "param_growth", "params",
                                 "seeds_germinated", "seeds_fossilized", "seeds_pruned",
                                 "actions", "rewards", "val_accuracies", "events",
                                 "model_file"}, ...]}, ...]}

``partial`` is true when Ctrl-C or SIGTERM stopped the evaluation: the file then holds the
episodes that finished (a policy with none has ``"summary": null``) and no figures are drawn.

Any episode replays with :func:`episode_record` (``EpisodeRecord.validate()`` checks every
reward). ``OUT/episodes.csv`` has one row per episode; ``OUT/validation_curves.png`` and
``OUT/pareto.png`` are the figures; with ``save_model`` each episode's grown network is exported
to ``OUT/models/``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import envs
from envs.atomic import atomic_write_text
from kasmina.validation import require_device, require_int
from simic import figures
from simic.envutil import SimicError, check_env_kwargs, make_env, resolve_env_id
from simic.options import doc
from simic.policies import POLICY_NAMES, make_policy, run_episode
from simic.runfolder import ensure_writable_folder
from simic.signals import exit_status, sigterm_interrupts
from simic.stats import MeanCI, mean_ci

Printer = Callable[[str], None]
SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "policy",
    "seed",
    "return",
    "test_accuracy",
    "param_growth",
    "params",
    "seeds_germinated",
    "seeds_fossilized",
    "seeds_pruned",
)


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
    episodes: dict[str, list[dict[str, Any]]]
    summaries: dict[str, PolicySummary | None]
    files: tuple[Path, ...] = ()
    exit_status: int = 0
    """0 when every episode ran; 130 (Ctrl-C) or 143 (SIGTERM) for a partial evaluation."""

    @property
    def partial(self) -> bool:
        return self.exit_status != 0


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
) -> dict[str, Any]:
    """One episode of ``spec`` on ``seed`` (in a worker process or in-process)."""
    key = (env_id, json.dumps(env_kwargs, sort_keys=True), spec, device, transfer)
    if key not in _WORKER_CACHE:
        env = make_env(env_id, env_kwargs)
        policy = make_policy(spec, env.unwrapped, device=device, transfer=transfer)
        _WORKER_CACHE[key] = (env, policy)
    env, policy = _WORKER_CACHE[key]
    result = run_episode(env, policy, seed)
    row = _episode_row(result)
    if model_dir is not None:
        from simic.export import export_grown_model

        path = Path(model_dir) / f"{_slug(spec)}_seed{seed}.pt"
        export_grown_model(env.unwrapped, path, metadata={"policy": spec, "seed": seed})
        row["model_file"] = str(Path("models") / path.name)
    return row


def _episode_row(result: Any) -> dict[str, Any]:
    return {
        "seed": result.seed,
        "return": result.return_,
        "test_accuracy": result.test_accuracy,
        "param_growth": result.param_growth,
        "params": result.params,
        "seeds_germinated": result.seeds_germinated,
        "seeds_fossilized": result.seeds_fossilized,
        "seeds_pruned": result.seeds_pruned,
        "actions": list(result.actions),
        "rewards": list(result.rewards),
        "val_accuracies": list(result.val_accuracies),
        "events": [list(e) for e in result.events],
        "model_file": None,
    }


def _run_all(config: EvaluateConfig, out: Printer) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Every episode's row by policy, and 0 or the exit status of an interruption.

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
    rows: dict[int, dict[str, Any]] = {}
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
    results: dict[str, list[dict[str, Any]]] = {spec: [] for spec in config.policies}
    for index, job in enumerate(jobs):
        if index in rows:
            results[job[2]].append(rows[index])
    return results, status


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _play_in_pool(jobs: list[tuple[Any, ...]], workers: int, rows: dict[int, Any]) -> None:
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


def summarize(policy: str, episodes: list[dict[str, Any]]) -> PolicySummary | None:
    """The policy's means and intervals; ``None`` if none of its episodes ran."""
    if not episodes:
        return None

    def mean(key: str) -> float:
        return sum(ep[key] for ep in episodes) / len(episodes)

    return PolicySummary(
        policy,
        mean_ci([ep["return"] for ep in episodes]),
        mean_ci([ep["test_accuracy"] for ep in episodes]),
        mean_ci([ep["param_growth"] for ep in episodes]),
        mean("seeds_germinated"),
        mean("seeds_fossilized"),
        mean("seeds_pruned"),
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


def _results_json(report: EvaluationReport) -> str:
    config = report.config
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "partial": report.partial,
            "env": config.env,
            "env_kwargs": config.env_kwargs,
            "task": report.task,
            "seeds": config.seeds,
            "policies": [
                {
                    "policy": p,
                    "summary": summary.to_dict() if (summary := report.summaries[p]) else None,
                    "episodes": report.episodes[p],
                }
                for p in config.policies
            ],
        },
        indent=1,
    )


def _episodes_csv(report: EvaluationReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for policy, episodes in report.episodes.items():
        for ep in episodes:
            writer.writerow([policy, *(ep[c] for c in CSV_COLUMNS[1:])])
    return buffer.getvalue()


def write_outputs(report: EvaluationReport, folder: Path) -> tuple[Path, ...]:
    """results.json, episodes.csv and (unless partial) the figures, each written atomically."""
    files = (
        atomic_write_text(folder / "results.json", _results_json(report)),
        atomic_write_text(folder / "episodes.csv", _episodes_csv(report)),
    )
    if report.partial:
        return files
    return (
        *files,
        figures.validation_curves(report.episodes, folder / "validation_curves.png"),
        figures.pareto(report.episodes, folder / "pareto.png"),
    )


def episode_record(results_file: str | Path, policy: str, seed: int) -> envs.EpisodeRecord:
    """The replayable record of one episode in a ``results.json``."""
    data = json.loads(Path(results_file).read_text())
    for entry in data["policies"]:
        if entry["policy"] == policy:
            for ep in entry["episodes"]:
                if ep["seed"] == seed:
                    return envs.EpisodeRecord(
                        data["task"],
                        data["env_kwargs"],
                        seed,
                        tuple(ep["actions"]),
                        tuple(ep["rewards"]),
                        data["env"],
                    )
    raise SimicError(f"{results_file} has no episode of policy {policy!r} with seed {seed}")


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
    summaries = {p: summarize(p, episodes[p]) for p in config.policies}
    report = EvaluationReport(config, task, episodes, summaries, exit_status=status)
    out(format_table(summaries))
    if config.out is not None:
        files = write_outputs(report, Path(config.out))
        report = dataclasses.replace(report, files=files)
        out(f"wrote {', '.join(str(f) for f in files)}")
    return report
