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
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.common.errors import SimicError
from simic.common.printing import Printer
from simic.common.raysupport import (
    ray_session,
    require_ray,
    resolve_address,
)
from simic.common.runfolder import claim
from simic.sweep.baselines import baseline_rows
from simic.sweep.config import SweepConfig, config_changes, lookup, nest
from simic.sweep.results import (
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
    write_files,
)
from simic.sweep.trials import METRIC, from_metrics, run_trial, trial_folder

FEATURE = "simic sweep"
STATE_FILE = "sweep_config.json"
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


# ----------------------------------------------------------------------------------- trials
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
    baselines = baseline_rows(config, storage, trials, on_cluster, out) if complete else []
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
