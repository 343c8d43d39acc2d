"""``simic sweep``: a Ray Tune search over training runs, each evaluated on held-out seeds.

Every trial (a Tune function trainable, one CPU unless ``resources`` says otherwise) trains
with :func:`simic.training.train` into its own folder under the storage folder, evaluates the
final model on the held-out seeds with :func:`simic.evaluation.evaluate`, and reports the mean
return and test accuracy with their 95% intervals as Tune metrics. The baselines are evaluated
once on the same seeds, once per environment setting the trials used (searched
``env_kwargs``; a continuous one costs a baseline evaluation per trial): in this process on a
local Ray, as Ray tasks on a cluster. The sweep
then prints one table (a row per trial, with its searched settings, and a row per baseline)
and writes ``sweep.json``, ``sweep.csv`` and ``sweep.png`` (:mod:`simic.sweep.results`).

The storage folder (absolute; on a multi-node cluster it must be shared, at the same path, by
every node) holds everything::

    STORAGE/sweep_config.json          the sweep config, recorded when it starts
    STORAGE/tuner.pkl, experiment_state-*.json, ...      Ray Tune's experiment state
    STORAGE/trial_<id>/run/            the trial's training run folder (see simic.training.sb3)
    STORAGE/trial_<id>/evaluation/     its held-out evaluation (see simic.evaluation.runner)
    STORAGE/trial_<id>/trial.log       what training and evaluation printed
    STORAGE/baselines[_<setting>]/     the baselines' evaluation, per environment setting
    STORAGE/sweep.json, sweep.csv, sweep.png

A stopped sweep (Ctrl-C, a lost driver) continues with ``--resume``: Tune restores the
experiment (``Tuner.restore``), finished trials are not run again, and an interrupted trial
resumes its training run from its last checkpoint.

The config format is described in :mod:`simic.sweep.config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.common.errors import SimicError
from simic.common.printing import Printer
from simic.common.raysupport import (
    LOCAL,
    ray_session,
    require_ray,
    resolve_address,
)
from simic.common.runfolder import CONFIG_FILE, MODEL_FILE, claim
from simic.common.stats import MeanCI
from simic.evaluation import EvaluationReport
from simic.evaluation.runner import EvaluateConfig, evaluate
from simic.sweep.config import SweepConfig, config_changes, lookup, nest
from simic.sweep.results import (
    BASELINE,
    CSV_FILE,
    DONE,
    FAILED,
    FIGURE_FILE,
    JSON_FILE,
    PENDING,
    TRIAL,
    SweepRow,
    best_trial,
    format_table,
    summary_from_json,
    write_files,
)
from simic.sweep.trials import METRIC, folder_name, from_metrics, trial_folder, trial_metrics
from simic.training import train
from simic.training.config import TrainConfig

FEATURE = "simic sweep"
STATE_FILE = "sweep_config.json"
TRIAL_LOG, RUN_FOLDER, EVALUATION_FOLDER, BASELINES = "trial.log", "run", "evaluation", "baselines"
NEW_OUTPUT = "RAY_AIR_NEW_OUTPUT"


@dataclass(frozen=True)
class SweepReport:
    """What a call of :func:`run_sweep` did."""

    storage: Path
    rows: tuple[SweepRow, ...]
    files: tuple[Path, ...]
    complete: bool
    """Every trial finished (done or failed); otherwise the sweep was stopped."""
    exit_status: int = 0
    """0 when every trial is done, 1 when some failed, 130 when the sweep was stopped."""


class AppendLog:
    """A printer that appends each line to a file (a trial's output stays off the console)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{line}\n")


# ----------------------------------------------------------------------------------- trials
def run_trial(params: dict[str, Any], *, sweep: SweepConfig, storage: str) -> None:
    """The Tune trainable: train and evaluate one trial, then report its metrics to Tune."""
    from ray import tune

    # Tune's own trial dir (get_trial_dir) is a local staging copy; the run lives in storage.
    folder = Path(storage) / folder_name(tune.get_context().get_trial_id())
    config = sweep.trial_config(params, out=str(folder / RUN_FOLDER))
    tune.report(train_and_evaluate(config, sweep, folder, AppendLog(folder / TRIAL_LOG)))


def train_and_evaluate(
    config: TrainConfig, sweep: SweepConfig, folder: Path, out: Printer
) -> dict[str, float]:
    """Train ``config`` (continuing its run if the folder holds one), evaluate the model on the
    sweep's held-out seeds into ``folder/evaluation``, and return the Tune metrics."""
    run = Path(config.out)
    # A previous attempt of this trial that was killed holds no lock: the kernel released it.
    result = train(config, resume=(run / CONFIG_FILE).is_file(), out=out)
    if result.interrupted:
        raise SimicError(f"training of {run} stopped at {result.timesteps} timesteps")
    model = str(run / MODEL_FILE)
    evaluation = _evaluate_config(sweep, config, (model,), folder / EVALUATION_FOLDER)
    report = evaluate(evaluation, out=out)
    returns, accuracy = _headline(report, model)
    return {
        **trial_metrics("return", returns),
        **trial_metrics("test_accuracy", accuracy),
        "timesteps": result.timesteps,
    }


def _evaluate_config(
    sweep: SweepConfig,
    run: TrainConfig,
    policies: Sequence[str],
    out: Path,
    ray: str | None = None,
) -> EvaluateConfig:
    """The held-out evaluation of ``policies`` on the env (and device) of training ``run``."""
    return EvaluateConfig(
        env=run.env,
        env_kwargs=dict(run.env_kwargs),
        policies=tuple(policies),
        episodes=sweep.evaluation.episodes,
        seed=sweep.evaluation.seed,
        ray=ray,
        out=str(out),
        device=run.device,
    )


def _headline(report: EvaluationReport, policy: str) -> tuple[MeanCI, MeanCI]:
    """Return and test accuracy of ``policy``: a task family's average, else over episodes."""
    summary = report.family_summaries.get(policy) or report.summaries[policy]
    if summary is None:
        raise SimicError(f"the evaluation of {policy} played no episode")
    return summary.returns, summary.test_accuracy


# ----------------------------------------------------------------------------------- Tune
def param_space(config: SweepConfig) -> dict[str, Any]:
    """The sweep's dimensions as Tune's (nested) search space."""
    from ray import tune

    def domain(kind: str, values: Sequence[Any]) -> Any:
        if kind == "grid":
            return tune.grid_search(list(values))
        if kind == "choice":
            return tune.choice(list(values))
        return (tune.uniform if kind == "uniform" else tune.loguniform)(*values)

    return nest({d.path: domain(d.kind, d.values) for d in config.dimensions})


def _tuner(config: SweepConfig, storage: Path, restore: bool, callbacks: Sequence[Any]) -> Any:
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from simic.sweep.callbacks import TrialProgress

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, sweep=config, storage=str(storage)),
        config.resources.to_ray(),
    )
    if restore:
        # Finished trials stay finished; unfinished and failed ones run again (a failed one
        # continues its training run from its checkpoint).
        return tune.Tuner.restore(str(storage), trainable, resume_errored=True)
    search = BasicVariantGenerator(
        max_concurrent=config.max_concurrent_trials, random_state=config.search_seed
    )
    return tune.Tuner(
        trainable,
        param_space=param_space(config),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=config.samples,
            search_alg=search,
            trial_dirname_creator=trial_folder,
            reuse_actors=True,  # a trial's worker keeps torch & co. imported for the next
        ),
        run_config=tune.RunConfig(
            storage_path=str(storage.parent),
            name=storage.name,
            verbose=0,
            callbacks=[TrialProgress(), *callbacks],
        ),
    )


def _trial_rows(grid: Any, config: SweepConfig) -> list[SweepRow]:
    rows = []
    for result in grid:
        folder = Path(result.path).name
        settings = {d.path: lookup(result.config or {}, d.path) for d in config.dimensions}
        returns = from_metrics(result.metrics or {}, "return")
        accuracy = from_metrics(result.metrics or {}, "test_accuracy")
        status = FAILED if result.error else DONE if returns is not None else PENDING
        error = _one_line(result.error) if result.error else ""
        rows.append(SweepRow(folder, TRIAL, status, settings, returns, accuracy, folder, error))
    return sorted(rows, key=lambda row: row.name)


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune's classic output engine, which ``verbose=0`` silences (the new one still prints
    boxes); the sweep prints its own lines and table."""
    previous = os.environ.get(NEW_OUTPUT)
    os.environ[NEW_OUTPUT] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NEW_OUTPUT, None)
        else:
            os.environ[NEW_OUTPUT] = previous


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error  # a RayTaskError wraps the trial's own
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"


# ----------------------------------------------------------------------------------- baselines
def _baseline_rows(
    config: SweepConfig, storage: Path, trials: Sequence[SweepRow], on_cluster: bool, out: Printer
) -> list[SweepRow]:
    """Every baseline on the held-out seeds, once per environment setting of the trials."""
    if not config.evaluation.baselines:
        return []
    env_paths = [d.path for d in config.search if d.path.startswith("env_kwargs.")]
    settings: list[dict[str, Any]] = []
    for trial in trials:
        setting = {p: trial.settings[p] for p in env_paths}
        if setting not in settings:
            settings.append(setting)
    rows = []
    for setting in settings:
        folder = storage / _baseline_folder(setting)
        env_kwargs = {**config.train.env_kwargs, **nest(setting).get("env_kwargs", {})}
        data = _baseline_results(config, env_kwargs, folder, on_cluster, out)
        rows += [_baseline_row(entry, setting, folder.name) for entry in data["policies"]]
    return rows


def _baseline_folder(setting: Mapping[str, Any]) -> str:
    if not setting:
        return BASELINES
    parts = [f"{path.split('.', 1)[1]}={value}" for path, value in setting.items()]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join([BASELINES, *parts]))


def _baseline_results(
    config: SweepConfig, env_kwargs: dict[str, Any], folder: Path, on_cluster: bool, out: Printer
) -> dict[str, Any]:
    """The baselines' results.json in ``folder``: reused if complete, else evaluated now."""
    results = folder / "results.json"
    if results.is_file():
        data = json.loads(results.read_text())
        policies = [entry["policy"] for entry in data["policies"]]
        same = (data["seeds"], data["env_kwargs"], policies) == (
            config.evaluation.seeds,
            env_kwargs,
            list(config.evaluation.baselines),
        )
        if same and not data["partial"]:
            return data
    out(f"evaluating the baselines {', '.join(config.evaluation.baselines)} into {folder}")
    # On a cluster as Ray tasks, in the sweep's session; on a local Ray here, in this process,
    # which has everything imported already (a fresh Ray worker would import it all again).
    ray = LOCAL if on_cluster else None
    run = dataclasses.replace(config.train, env_kwargs=env_kwargs)
    evaluation = _evaluate_config(config, run, config.evaluation.baselines, folder, ray)
    report = evaluate(evaluation, out=AppendLog(folder / "evaluate.log"))
    if report.partial:
        raise KeyboardInterrupt  # stopped mid-way: --resume evaluates the baselines again
    return json.loads(results.read_text())


def _baseline_row(entry: Mapping[str, Any], setting: dict[str, Any], folder: str) -> SweepRow:
    summary = entry.get("family_summary") or entry["summary"]
    returns = summary_from_json(summary["return"]) if summary else None
    accuracy = summary_from_json(summary["test_accuracy"]) if summary else None
    spec = Path(entry["policy"])  # a model path is shown as FOLDER/model.zip
    name = f"{spec.parent.name}/{spec.name}" if "/" in entry["policy"] else entry["policy"]
    return SweepRow(name, BASELINE, DONE, setting, returns, accuracy, folder)


# ----------------------------------------------------------------------------------- entry
def check_storage(storage: Path, config: SweepConfig, resume: bool) -> None:
    """A new sweep needs a folder without one; ``resume`` one holding this very config."""
    recorded = storage / STATE_FILE
    if not resume:
        if recorded.exists():
            raise SimicError(
                f"{storage} already holds a sweep; continue it with --resume or choose another "
                "--storage"
            )
        return
    if not recorded.is_file():
        raise SimicError(f"{storage} holds no sweep to resume (no {STATE_FILE}); drop --resume")
    try:
        changes = config_changes(json.loads(recorded.read_text()), config)
    except (OSError, json.JSONDecodeError) as exc:
        raise SimicError(f"{recorded} cannot be read ({exc}); the sweep cannot resume") from None
    if changes:
        raise SimicError(
            f"the config differs from the sweep recorded in {recorded} in {', '.join(changes)}; "
            "a sweep resumes with the config it started with (or start a new --storage)"
        )


def run_sweep(
    config: SweepConfig,
    storage: str | Path,
    *,
    address: str | None = None,
    resume: bool = False,
    out: Printer = print,
    callbacks: Sequence[Any] = (),
) -> SweepReport:
    """Run (or, with ``resume``, continue) the sweep in ``storage``; print and write its table.

    Args:
        config: The sweep.
        storage: Its folder (made absolute); see the module docstring for what it holds.
        address: A Ray cluster to run on (``None``: ``RAY_ADDRESS``, else a local Ray).
        resume: Continue the stopped sweep in ``storage`` (its config must be ``config``).
        out: Where progress and the table go.
        callbacks: Extra Ray Tune callbacks (e.g. a logger), for a new sweep.
    """
    require_ray(FEATURE)
    folder = Path(storage).expanduser().resolve()
    check_storage(folder, config, resume)
    files = (STATE_FILE, JSON_FILE, CSV_FILE, FIGURE_FILE)
    on_cluster = resolve_address(address) is not None
    with claim(folder, "sweep folder", files=files), ray_session(FEATURE, address):
        return _run_claimed(config, folder, resume, on_cluster, out, callbacks)


def _run_claimed(
    config: SweepConfig,
    storage: Path,
    resume: bool,
    on_cluster: bool,
    out: Printer,
    callbacks: Sequence[Any],
) -> SweepReport:
    from ray import tune

    atomic_write_text(storage / STATE_FILE, json.dumps(config.to_dict(), indent=1))
    restore = resume and tune.Tuner.can_restore(storage)
    verb = "resuming" if restore else "running"
    out(f"{verb} a sweep of {config.trial_count} trials on {config.train.env} in {storage}")
    with _quiet_tune():
        grid = _tuner(config, storage, restore, callbacks).fit()
    trials = _trial_rows(grid, config)
    complete = len(trials) == config.trial_count and all(r.status != PENDING for r in trials)
    baselines = _baseline_rows(config, storage, trials, on_cluster, out) if complete else []
    return _finish(config, storage, [*trials, *baselines], complete, out)


def _finish(
    config: SweepConfig, storage: Path, rows: list[SweepRow], complete: bool, out: Printer
) -> SweepReport:
    settings = [d.path for d in config.dimensions]
    files = write_files(storage, rows, settings, config.to_dict(), partial=not complete)
    out(format_table(rows, settings))
    for row in rows:
        if row.error:
            out(f"{row.name} failed: {row.error}")
    if (best := best_trial(rows)) is not None:
        out(f"best trial: {best.name} (return {best.returns.format(1, 3)})")  # type: ignore[union-attr]
    out(f"wrote {', '.join(str(f) for f in files)}")
    status = 0
    if not complete:
        done = sum(row.kind == TRIAL and row.status != PENDING for row in rows)
        out(
            f"sweep stopped with {done} of {config.trial_count} trials finished; continue it "
            f"with: simic sweep CONFIG --storage {storage} --resume"
        )
        status = 130
    elif any(row.status == FAILED for row in rows):
        status = 1
    return SweepReport(storage, tuple(rows), files, complete, status)
