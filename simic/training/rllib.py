"""``simic train --engine rllib``: PPO with action masking on Ray RLlib, in a simic run folder.

The counterpart of :mod:`simic.training.sb3` (MaskablePPO), from the same
:class:`~simic.training.config.TrainConfig` (translated by :mod:`simic.training.rllib_setup`),
into the same kind of run folder::

    RUN/config.json            the resolved configuration, with ``"engine": "rllib"``
    RUN/checkpoints/latest/    the Algorithm checkpoint (periodic, on Ctrl-C, and at the end)
    RUN/model/                 the final RLModule (``simic evaluate --policy RUN`` plays it)
    RUN/best_model/            the RLModule with the best mean return on held-out seeds so far
    RUN/evaluations.json       every periodic evaluation (timesteps, mean return)
    RUN/progress.jsonl         one JSON object per training iteration (see :class:`Progress`)
    RUN/tb/                    TensorBoard logs

Folders are replaced without a gap and files atomically (:mod:`simic.policies.rllib_checkpoint`),
so an interrupted run keeps a loadable checkpoint; ``simic train --resume RUN --timesteps N``
continues it (weights, optimizer, timestep and iteration counts). Ray runs locally on this
machine's cores unless ``address`` or ``RAY_ADDRESS`` names a cluster
(:func:`simic.common.raysupport.ray_session`); ``num_env_runners`` actors then sample across
it. Ctrl-C and SIGTERM save a checkpoint and return exit status 130 or 143, as in
:mod:`simic.training.sb3`.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.common.envutil import check_env_kwargs, make_env
from simic.common.printing import Printer
from simic.common.provenance import EnvSignature, check_resume
from simic.common.raysupport import ray_session, require_ray
from simic.common.runfolder import (
    CONFIG_FILE,
    EVALUATIONS_FILE,
    PROGRESS_FILE,
    RLLIB_RUN_FILES,
    claim,
)
from simic.common.signals import Terminated, exit_status, sigterm_interrupts
from simic.policies import rllib_checkpoint
from simic.policies.episode import run_episode
from simic.policies.rllib import RLlibPolicy
from simic.policies.rllib_checkpoint import BEST_DIR, CHECKPOINT_DIR, MODEL_DIR
from simic.training import rllib_setup
from simic.training.config import Engine, TrainConfig
from simic.training.runs import TrainResult, check_run_folder, previous_evaluations

FEATURE = "simic train --engine rllib"
TB_RUN = "rllib"


def train(
    config: TrainConfig, *, resume: bool = False, address: str | None = None, out: Printer = print
) -> TrainResult:
    """Train (or, with ``resume``, continue) RLlib's PPO as ``config`` says, in ``config.out``.

    Everything a user can get wrong (Ray missing, bad env kwargs, settings RLlib cannot run, a
    folder that already holds a run) fails before Ray starts or a file is written.
    """
    if config.engine is not Engine.RLLIB:
        raise ValueError(f"rllib.train got a config for engine {config.engine!r}")
    require_ray(FEATURE)
    rllib_setup.check(config)
    # Absolute: RLlib saves checkpoints through pyarrow, which takes a relative path for a URI.
    run = Path(config.out).absolute()
    signature = EnvSignature.of(check_env_kwargs(config.env, config.env_kwargs))
    with claim(run, files=RLLIB_RUN_FILES):
        rllib_checkpoint.recover(run)
        marker = f"{CHECKPOINT_DIR}/{rllib_checkpoint.ALGORITHM_MARK}"
        from_checkpoint = check_run_folder(run, resume, checkpoint=marker)
        if resume and not from_checkpoint:
            out(f"{run} has no checkpoint yet (it stopped before the first one); starting at 0")
        with _ray(address), sigterm_interrupts():  # after ray.init, which sets its own handler
            return _train_in(config, run, from_checkpoint, signature, out)


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[None]:
    """A Ray session; the SIGTERM handler ``ray.init`` replaces is put back afterwards."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with ray_session(FEATURE, address):
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _train_in(
    config: TrainConfig, run: Path, from_checkpoint: bool, signature: EnvSignature, out: Printer
) -> TrainResult:
    if from_checkpoint:
        checkpoint = run / CHECKPOINT_DIR
        trained_env = rllib_checkpoint.signature_of(checkpoint / rllib_checkpoint.MODULE_PATH)
        trained_run = rllib_checkpoint.identity_of(checkpoint)
        check_resume(run, config.identity(), signature, trained_env, trained_run)
    algo = rllib_setup.algorithm_config(config).build_algo()
    try:
        if from_checkpoint:
            _restore(algo, run / CHECKPOINT_DIR)
        start = timesteps_of(algo)
        if start >= config.timesteps:  # nothing changes, config.json included
            if rllib_checkpoint.module_folder(run / MODEL_DIR) is None:  # killed before it
                rllib_checkpoint.copy_module(run / CHECKPOINT_DIR, run / MODEL_DIR)
                out(
                    f"{run}: already at {start} timesteps; {MODEL_DIR}/ written from its checkpoint"
                )
            else:
                out(
                    f"{run}: already at {start} timesteps (asked for {config.timesteps}); "
                    "nothing to do"
                )
            return TrainResult(run, start, interrupted=False)
        atomic_write_text(run / CONFIG_FILE, json.dumps(config.to_dict(), indent=1))
        progress = Progress(run, resumed=from_checkpoint, upto=start)
        evaluation = (
            RLlibHeldOutEvaluation(config, run, from_checkpoint, start)
            if config.eval_every
            else None
        )
        try:
            timesteps, status = _learn(algo, config, run, signature, progress, evaluation, out)
        finally:
            progress.close()
            if evaluation is not None:
                evaluation.close()
    finally:
        _stop(algo)
    return TrainResult(run, timesteps, interrupted=status != 0, exit_status=status)


def _stop(algo: Any) -> None:
    """Stop the algorithm and remove the log folder RLlib made for it (``~/ray_results/...``),
    which stays empty: the run's logs are in the run folder."""
    algo.stop()
    with contextlib.suppress(OSError):  # not empty (someone wrote there), or already gone
        Path(algo.logdir).rmdir()


def _restore(algo: Any, checkpoint: Path) -> None:
    try:
        algo.restore_from_path(str(checkpoint))
    except Exception as exc:  # pickle, torch and state errors all mean "unusable"
        from simic.common.errors import SimicError

        raise SimicError(
            f"checkpoint {checkpoint} cannot be loaded ({type(exc).__name__}: {exc}); "
            "the run folder was left as it is"
        ) from None


def timesteps_of(algo: Any) -> int:
    """The env steps sampled over the whole run (restored with a checkpoint)."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    return int(algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))


def _learn(
    algo: Any,
    config: TrainConfig,
    run: Path,
    signature: EnvSignature,
    progress: Progress,
    evaluation: RLlibHeldOutEvaluation | None,
    out: Printer,
) -> tuple[int, int]:
    """Train to ``config.timesteps``; returns the timesteps and 0, or a signal's exit status."""
    timesteps = saved = timesteps_of(algo)
    out(
        f"training RLlib PPO on {config.env}: {timesteps} -> {config.timesteps} timesteps, "
        f"{config.num_env_runners} env runner(s) x {config.n_envs} env(s), run folder {run}"
    )
    try:
        while timesteps < config.timesteps:
            row = progress.add(algo.train())
            timesteps = row["timesteps"]
            if config.progress_bar:
                out(Progress.describe(row))
            if timesteps - saved >= config.checkpoint_every:
                rllib_checkpoint.save_checkpoint(algo, run, signature, config.identity())
                saved = timesteps
            if evaluation is not None and evaluation.due(timesteps):
                if saved != timesteps:
                    rllib_checkpoint.save_checkpoint(algo, run, signature, config.identity())
                    saved = timesteps
                evaluation.run(timesteps, run / CHECKPOINT_DIR)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as Terminated
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        timesteps = timesteps_of(algo)
        rllib_checkpoint.save_checkpoint(algo, run, signature, config.identity())
        out(
            f"{what} at {timesteps} timesteps; checkpoint saved. Continue with "
            f"'simic train --resume {run} --timesteps {config.timesteps}'"
        )
        return timesteps, exit_status(stop)
    checkpoint = rllib_checkpoint.save_checkpoint(algo, run, signature, config.identity())
    rllib_checkpoint.copy_module(checkpoint, run / MODEL_DIR)
    out(f"done: {timesteps} timesteps; model saved to {run / MODEL_DIR}")
    return timesteps, 0


# ----------------------------------------------------------------------------------- progress
class Progress:
    """``RUN/progress.jsonl`` and TensorBoard scalars (``RUN/tb/rllib``), one entry per iteration.

    Each line: ``iteration``, ``timesteps`` (over the run), ``episodes`` (finished in the
    iteration), ``episode_return_mean`` and ``episode_len_mean`` (RLlib's, over the last 100
    episodes; ``null`` before the first), ``invalid_actions`` (masked actions taken in the
    iteration) and ``invalid_actions_total`` (over the run), ``steps_per_s`` (of the iteration,
    sampling and learning), and the learner's ``policy_loss``, ``vf_loss`` and ``entropy``.
    A resumed run keeps the lines up to its checkpoint and continues after them.
    """

    def __init__(self, run: Path, resumed: bool, upto: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.file = run / PROGRESS_FILE
        kept = [r for r in read_progress(run) if r["timesteps"] <= upto] if resumed else []
        atomic_write_text(self.file, "".join(json.dumps(r) + "\n" for r in kept))
        self.writer = SummaryWriter(str(run / "tb" / TB_RUN))

    def add(self, result: dict[str, Any]) -> dict[str, Any]:
        row = self.row(result)
        with self.file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        step = row["timesteps"]
        for tag, key in (
            ("rollout/ep_rew_mean", "episode_return_mean"),
            ("rollout/ep_len_mean", "episode_len_mean"),
            ("rollout/invalid_actions", "invalid_actions"),
            ("time/fps", "steps_per_s"),
            ("train/policy_loss", "policy_loss"),
            ("train/value_loss", "vf_loss"),
            ("train/entropy", "entropy"),
        ):
            if row[key] is not None:
                self.writer.add_scalar(tag, row[key], step)
        self.writer.flush()
        return row

    @staticmethod
    def row(result: dict[str, Any]) -> dict[str, Any]:
        """The progress entry of one ``algo.train()`` result."""
        from ray.rllib.utils.metrics import (
            ENV_RUNNER_RESULTS,
            LEARNER_RESULTS,
            NUM_ENV_STEPS_SAMPLED,
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
        )

        sampling = result.get(ENV_RUNNER_RESULTS, {})
        learning = result.get(LEARNER_RESULTS, {}).get("default_policy", {})
        seconds = float(result.get("time_this_iter_s") or 0.0)
        sampled = int(sampling.get(NUM_ENV_STEPS_SAMPLED, 0))
        return {
            "iteration": int(result["training_iteration"]),
            "timesteps": int(sampling.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)),
            "episodes": int(sampling.get("num_episodes", 0)),
            "episode_return_mean": _number(sampling.get("episode_return_mean")),
            "episode_len_mean": _number(sampling.get("episode_len_mean")),
            "invalid_actions": int(sampling.get(rllib_setup.INVALID_ACTIONS, 0)),
            "invalid_actions_total": int(sampling.get(rllib_setup.INVALID_ACTIONS_TOTAL, 0)),
            "steps_per_s": round(sampled / seconds, 2) if seconds > 0 else None,
            "policy_loss": _number(learning.get("policy_loss")),
            "vf_loss": _number(learning.get("vf_loss")),
            "entropy": _number(learning.get("entropy")),
        }

    @staticmethod
    def describe(row: dict[str, Any]) -> str:
        ret = row["episode_return_mean"]
        return (
            f"iteration {row['iteration']}: {row['timesteps']} timesteps, return "
            f"{'-' if ret is None else f'{ret:.3f}'}, {row['invalid_actions_total']} invalid "
            f"actions, {row['steps_per_s']} steps/s"
        )

    def close(self) -> None:
        self.writer.close()


def read_progress(run: Path) -> list[dict[str, Any]]:
    """The entries of ``RUN/progress.jsonl`` (a line cut short by a crash is skipped)."""
    file = run / PROGRESS_FILE
    rows = []
    for line in file.read_text(encoding="utf-8").splitlines() if file.is_file() else []:
        with contextlib.suppress(json.JSONDecodeError):
            row = json.loads(line)
            if isinstance(row, dict) and isinstance(row.get("timesteps"), int):
                rows.append(row)
    return rows


def _number(value: Any) -> float | None:
    """A finite float for JSON, else ``None`` (RLlib reports NaN before the first episode)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------------- evaluation
class RLlibHeldOutEvaluation:
    """Every ``eval_every`` timesteps: the checkpoint's module on the held-out seeds.

    Plays ``eval_episodes`` episodes on seeds ``eval_seed..`` here, deterministically, with the
    policy ``simic evaluate`` plays (:class:`~simic.policies.rllib.RLlibPolicy`); appends the
    mean return to ``RUN/evaluations.json`` and keeps the best module in ``RUN/best_model``.
    """

    def __init__(self, config: TrainConfig, run: Path, resumed: bool, start: int) -> None:
        self.config, self.folder = config, run
        self.seeds = range(config.eval_seed, config.eval_seed + config.eval_episodes)
        # A fresh run never reads what an earlier run left in the folder.
        self.history: list[dict[str, float]] = previous_evaluations(run) if resumed else []
        self.best = max((h["mean_return"] for h in self.history), default=-math.inf)
        self.env = make_env(config.env, config.env_kwargs)
        self.next = self._after(start)

    def _after(self, timesteps: int) -> int:
        return (timesteps // self.config.eval_every + 1) * self.config.eval_every

    def due(self, timesteps: int) -> bool:
        """Whether ``timesteps`` reached the next multiple of ``eval_every`` (then the one after
        it is next)."""
        if timesteps < self.next:
            return False
        self.next = self._after(timesteps)
        return True

    def run(self, timesteps: int, checkpoint: Path) -> float:
        policy = RLlibPolicy(checkpoint, self.env, transfer=True)  # the run's own env
        returns = [run_episode(self.env, policy, seed).return_ for seed in self.seeds]
        mean = sum(returns) / len(returns)
        self.history.append({"timesteps": int(timesteps), "mean_return": float(mean)})
        atomic_write_text(self.folder / EVALUATIONS_FILE, json.dumps(self.history, indent=1))
        if mean > self.best:
            self.best = mean
            rllib_checkpoint.copy_module(checkpoint, self.folder / BEST_DIR)
        return mean

    def close(self) -> None:
        self.env.close()
