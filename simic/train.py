"""Training the growth controller: MaskablePPO on a growth environment, with a run folder.

(``engine="rllib"`` trains with Ray RLlib instead: :mod:`simic.rllib_engine`, same layout.)

A run folder holds everything a run needs to be inspected, resumed and evaluated::

    RUN/config.json                the resolved configuration (written before training starts)
    RUN/model.zip                  the final model
    RUN/best_model.zip             the best model on the held-out evaluation seeds so far
    RUN/checkpoints/latest.zip     the latest checkpoint (periodic, on Ctrl-C, and at the end)
    RUN/evaluations.json           every periodic evaluation (timesteps, mean return, accuracy)
    RUN/warm_start.json            with --warm-start: how well PPO cloned the teacher first
    RUN/demonstrations.npz         with --warm-start-anchor: the teacher samples PPO keeps near
    RUN/tb/                        TensorBoard logs

Every file is written atomically (temporary file + rename), so an interrupted run leaves a
loadable checkpoint and ``simic train --resume RUN --timesteps N`` continues it from the
checkpoint's timestep count.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from envs.atomic import atomic_write_text, default_file_mode
from simic import context_features, provenance, warmstart
from simic.envutil import check_env_kwargs, make_env
from simic.errors import SimicError
from simic.policies import make_policy
from simic.runfolder import CONFIG_FILE, MODEL_FILE, claim
from simic.seeding import SeedCycle, TrainingSeeds
from simic.signals import (
    Terminated,
    exit_status,
    ignore_stops,
    sigterm_interrupts,
    stops_blocked,
)
from simic.train_config import PPOConfig, TrainConfig

__all__ = ["PPOConfig", "TrainConfig", "TrainResult", "load_run_config", "train"]

Printer = Callable[[str], None]
BEST_FILE = "best_model.zip"
CHECKPOINT_FILE, EVALUATIONS_FILE = "checkpoints/latest.zip", "evaluations.json"
WARM_START_FILE = "warm_start.json"
DEMOS_FILE = "demonstrations.npz"
RUN_FILES = (
    CONFIG_FILE, MODEL_FILE, BEST_FILE, CHECKPOINT_FILE, EVALUATIONS_FILE, WARM_START_FILE,
    DEMOS_FILE,
)  # fmt: skip


@dataclass(frozen=True)
class TrainResult:
    """What a call of :func:`train` did."""

    run: Path
    timesteps: int
    interrupted: bool
    exit_status: int = 0
    """0 when training finished, 130 after Ctrl-C (SIGINT), 143 after SIGTERM."""


# ----------------------------------------------------------------------------------- run folder
def atomic_save_model(model: MaskablePPO, path: Path) -> Path:
    """``model.save`` to a temporary zip next to ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".zip", dir=path.parent)
    os.fchmod(fd, default_file_mode())
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_run_config(run: Path) -> TrainConfig:
    """The resolved config of an existing run folder (a clear error if there is none)."""
    file = run / CONFIG_FILE
    if not file.is_file():
        raise SimicError(
            f"{run} holds no training run (no {CONFIG_FILE}); start one with "
            f"'simic train --out {run}'"
        )
    try:
        return TrainConfig.from_mapping(json.loads(file.read_text()))
    except json.JSONDecodeError as exc:
        raise SimicError(f"{file} is corrupt ({exc}); the run cannot be resumed") from None


def _load_checkpoint(run: Path, vec_env: VecEnv, device: str) -> MaskablePPO:
    path = run / CHECKPOINT_FILE
    try:
        return MaskablePPO.load(path, env=vec_env, device=device)
    except Exception as exc:  # zipfile, pickle, torch and space errors all mean "unusable"
        raise SimicError(
            f"checkpoint {path} cannot be loaded ({type(exc).__name__}: {exc}); "
            "the run folder was left as it is"
        ) from None


# ----------------------------------------------------------------------------------- envs
def _training_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    # Module level (not a lambda) so SubprocVecEnv can pickle it by reference.
    return TrainingSeeds(Monitor(make_env(env_id, kwargs)))


def _worker_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    """A training env in a SubprocVecEnv worker, deaf to SIGINT and SIGTERM.

    Ctrl-C, ``timeout``, job schedulers and Ray signal the whole process group. Only the
    trainer decides what a signal means: it saves a checkpoint and then stops its workers. A
    worker that died of the signal first would break the trainer's next step instead. A worker
    whose trainer was killed outright still ends: its pipe closes. It starts with the signals
    held (see :func:`build_vec_env`), so one that comes while it imports torch is ignored too.
    """
    ignore_stops()
    return _training_env(env_id, kwargs)


def _eval_env(env_id: str, kwargs: dict[str, Any], seeds: list[int]) -> gym.Env:
    return SeedCycle(Monitor(make_env(env_id, kwargs)), seeds)


def build_vec_env(config: TrainConfig) -> VecEnv:
    make = _worker_env if config.n_envs > 1 else _training_env
    fns = [
        functools.partial(make, config.env, dict(config.env_kwargs)) for _ in range(config.n_envs)
    ]
    if config.n_envs == 1:
        vec: VecEnv = DummyVecEnv(fns)
    else:
        with stops_blocked():  # the workers (and the forkserver) start deaf to a group signal
            vec = SubprocVecEnv(fns)
    vec.seed(config.seed)
    return vec


def _close(vec: VecEnv | None, interrupted: bool = False) -> None:
    if vec is None:
        return
    if interrupted and isinstance(vec, SubprocVecEnv):
        # The interrupt may have landed between sending a step to one worker and the next: a
        # graceful close would wait forever for a reply that never comes. The checkpoint is
        # already saved, so the workers can simply be stopped.
        for process in vec.processes:
            process.kill()  # not terminate(): the workers ignore SIGTERM (see _worker_env)
        for process in vec.processes:
            process.join(timeout=10)
        vec.closed = True
        return
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        vec.close()  # workers may be gone after Ctrl-C


# ----------------------------------------------------------------------------------- callbacks
class AtomicCheckpoint(BaseCallback):
    """Saves ``RUN/checkpoints/latest.zip`` atomically every ``every`` timesteps."""

    def __init__(self, path: Path, every: int) -> None:
        super().__init__()
        self.path, self.every = path, every
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.every:
            atomic_save_model(self.model, self.path)  # type: ignore[arg-type]
            self._last = self.num_timesteps
        return True


class HeldOutEval(MaskableEvalCallback):
    """sb3-contrib's maskable evaluation on a fixed list of held-out seeds, every round.

    Keeps the best model (by mean return) in ``RUN/best_model.zip``, written atomically, and
    appends every round to ``RUN/evaluations.json``.
    """

    def __init__(
        self, eval_env: VecEnv, run: Path, eval_freq: int, n_eval_episodes: int, resumed: bool
    ) -> None:
        super().__init__(
            eval_env,
            n_eval_episodes=n_eval_episodes,
            eval_freq=eval_freq,
            deterministic=True,
            verbose=0,
            warn=False,
        )
        self.run = run
        # A fresh run never reads what an earlier run left in the folder.
        self.history: list[dict[str, float]] = previous_evaluations(run) if resumed else []
        if self.history:  # resumed: "best" means best over the whole run, not since resuming
            self.best_mean_reward = max(h["mean_return"] for h in self.history)

    def _init_callback(self) -> None:
        with warnings.catch_warnings():  # Subproc (training) vs Dummy (evaluation) is intended
            warnings.filterwarnings("ignore", "Training and eval env are not of the same type")
            super()._init_callback()

    def _on_step(self) -> bool:
        due = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
        if due:
            self.eval_env.env_method("restart")  # the same held-out episodes every round
        best = self.best_mean_reward
        keep_going = super()._on_step()
        if due:
            self._record(improved=self.last_mean_reward > best)
        return keep_going

    def _record(self, improved: bool) -> None:
        self.history.append(
            {"timesteps": int(self.num_timesteps), "mean_return": float(self.last_mean_reward)}
        )
        atomic_write_text(self.run / EVALUATIONS_FILE, json.dumps(self.history, indent=1))
        if improved:
            atomic_save_model(self.model, self.run / BEST_FILE)  # type: ignore[arg-type]


def previous_evaluations(run: Path) -> list[dict[str, float]]:
    file = run / EVALUATIONS_FILE
    try:
        return list(json.loads(file.read_text())) if file.is_file() else []
    except (OSError, json.JSONDecodeError):
        return []  # a corrupt history is not worth refusing to resume for


def _eval_callback(config: TrainConfig, run: Path, resumed: bool) -> HeldOutEval | None:
    if config.eval_every == 0:
        return None
    seeds = list(range(config.eval_seed, config.eval_seed + config.eval_episodes))
    vec = DummyVecEnv([functools.partial(_eval_env, config.env, dict(config.env_kwargs), seeds)])
    freq = max(1, config.eval_every // config.n_envs)
    return HeldOutEval(vec, run, freq, config.eval_episodes, resumed)


# ----------------------------------------------------------------------------------- train
def _new_model(
    config: TrainConfig, vec_env: VecEnv, run: Path, context: tuple[int, ...]
) -> MaskablePPO:
    kwargs = config.ppo.model_kwargs()
    if config.ppo.context_bumps:
        kwargs["policy_kwargs"].update(
            context_features.policy_kwargs(context, config.ppo.context_bumps)
        )
    return MaskablePPO(
        "MlpPolicy",
        vec_env,
        seed=config.seed,
        device=config.device,
        tensorboard_log=str(run / "tb"),
        verbose=0,
        **kwargs,
    )


def _warm_start(
    model: MaskablePPO, config: TrainConfig, run: Path, out: Printer
) -> warmstart.Demonstrations:
    """Clone the teacher into the new model (see :mod:`simic.warmstart`); report in the run.

    With an anchor, the demonstrations are kept in the run folder for a resumed run."""
    rng = np.random.default_rng(config.seed)  # training-range seeds, fixed by the run's seed
    seeds = [int(s) for s in rng.integers(10**9, 2 * 10**9, config.warm_start_episodes)]
    env = make_env(config.env, config.env_kwargs)
    try:
        demos = warmstart.collect(env, config.warm_start, seeds, config.ppo.gamma)
    finally:
        env.close()
    report = warmstart.clone(model, demos, epochs=config.warm_start_epochs, seed=config.seed)
    atomic_write_text(run / WARM_START_FILE, json.dumps(report.to_dict(), indent=1))
    if config.warm_start_anchor:
        warmstart.save_demonstrations(demos, run / DEMOS_FILE)
    out(
        f"warm start: cloned {config.warm_start} from {report.samples} steps of "
        f"{report.episodes} episodes (teacher return {report.teacher_return:.3f}): "
        f"{100 * report.accuracy:.1f}% of its actions, value RMSE {report.value_rmse:.3f}"
    )
    return demos


def _anchor(
    config: TrainConfig, run: Path, demos: warmstart.Demonstrations | None
) -> warmstart.CloneAnchor | None:
    """The clone anchor, on this run's demonstrations (read back from the run when resumed)."""
    if not config.warm_start_anchor:
        return None
    if demos is None:
        if not (run / DEMOS_FILE).is_file():
            raise SimicError(
                f"{run} trains with warm_start_anchor but has no {DEMOS_FILE} to anchor to "
                "(it was started before anchors existed): start it again in a new folder"
            )
        demos = warmstart.load_demonstrations(run / DEMOS_FILE)
    return warmstart.CloneAnchor(demos, config.warm_start_anchor, seed=config.seed)


def check_run_folder(run: Path, resume: bool, checkpoint: str = CHECKPOINT_FILE) -> bool:
    """Whether training continues a checkpoint; called while the folder is claimed.

    A fresh run refuses a folder that already holds one; ``checkpoint`` is the file (relative to
    the run) whose presence means there is a checkpoint to continue.
    """
    if not resume:
        if (run / CONFIG_FILE).exists():
            raise SimicError(
                f"{run} already holds a training run; continue it with "
                f"'simic train --resume {run} --timesteps N' or choose another --out"
            )
        return False
    return (run / checkpoint).is_file()


def train(
    config: TrainConfig, *, resume: bool = False, address: str | None = None, out: Printer = print
) -> TrainResult:
    """Train (or, with ``resume``, continue training) MaskablePPO as ``config`` says.

    The run folder is ``config.out``; while training, this process owns it
    (:func:`simic.runfolder.claim`). Ctrl-C and SIGTERM save a checkpoint and return with
    ``interrupted`` set. Resuming a run that died before its first checkpoint starts it again
    from timestep 0 with its recorded config. A config with ``engine="rllib"`` trains with Ray
    RLlib instead (:func:`simic.rllib_engine.train`, on the Ray cluster at ``address``).
    """
    if config.engine == "rllib":
        from simic import rllib_engine  # imports Ray only when asked for

        return rllib_engine.train(config, resume=resume, address=address, out=out)
    if address is not None:
        raise SimicError("--address names a Ray cluster for --engine rllib; sb3 trains here")
    run = Path(config.out)
    # Bad kwargs fail before a file is written; the env's signature goes into every model file.
    base = check_env_kwargs(config.env, config.env_kwargs)
    signature = provenance.EnvSignature.of(base)
    if config.warm_start:  # a teacher that cannot play this env is refused before any file
        make_policy(config.warm_start, base)
    context = (
        context_features.context_indices(base.layout, config.env)
        if config.ppo.context_bumps
        else ()
    )
    with claim(run, files=RUN_FILES), sigterm_interrupts():
        from_checkpoint = check_run_folder(run, resume)
        if resume and not from_checkpoint:
            out(f"{run} has no checkpoint yet (it stopped before the first one); starting at 0")
        return _train_in(config, run, from_checkpoint, signature, context, out)


def _resumed_model(
    config: TrainConfig, run: Path, vec_env: VecEnv, signature: provenance.EnvSignature
) -> MaskablePPO:
    """The run's checkpoint, if it is the run ``config.json`` describes, logging to this run."""
    model = _load_checkpoint(run, vec_env, config.device)
    provenance.check_resume(
        run,
        config.identity(),
        signature,
        provenance.recorded(model),
        provenance.recorded_run(model),
    )
    # The checkpoint remembers the TensorBoard folder of wherever the run was, and a copied
    # or moved run must not write into the original's.
    model.tensorboard_log = str(run / "tb")
    return model


def _train_in(
    config: TrainConfig,
    run: Path,
    from_checkpoint: bool,
    signature: provenance.EnvSignature,
    context: tuple[int, ...],
    out: Printer,
) -> TrainResult:
    vec_env = eval_cb = None
    status = -1  # until learning returns: an exception or an interrupt is under way
    threads = torch.get_num_threads()
    if config.n_envs > 1:
        torch.set_num_threads(1)  # the env workers have the cores; a tiny MLP needs no more
    try:
        vec_env = build_vec_env(config)
        model = (
            _resumed_model(config, run, vec_env, signature)
            if from_checkpoint
            else _new_model(config, vec_env, run, context)
        )
        remaining = config.timesteps - model.num_timesteps
        if remaining <= 0:  # nothing changes, config.json included
            status = 0
            _finish(model, run, config, out)
            return TrainResult(run, model.num_timesteps, interrupted=False)
        provenance.record(model, signature)
        provenance.record_run(model, config.identity())
        atomic_write_text(run / CONFIG_FILE, json.dumps(config.to_dict(), indent=1))
        demos = None
        if config.warm_start and not from_checkpoint:
            demos = _warm_start(model, config, run, out)
        anchor = _anchor(config, run, demos)
        eval_cb = _eval_callback(config, run, resumed=from_checkpoint)
        status = _learn(model, config, run, remaining, [eval_cb, anchor], out)
    finally:
        torch.set_num_threads(threads)
        _close(vec_env, interrupted=status != 0)
        _close(eval_cb.eval_env if eval_cb is not None else None, interrupted=status != 0)
    return TrainResult(run, model.num_timesteps, interrupted=status != 0, exit_status=status)


def _finish(model: MaskablePPO, run: Path, config: TrainConfig, out: Printer) -> None:
    """A run already at its target: only a model.zip that a kill kept from being written."""
    if (run / MODEL_FILE).is_file():
        out(
            f"{run}: already at {model.num_timesteps} timesteps (asked for "
            f"{config.timesteps}); nothing to do"
        )
        return
    atomic_save_model(model, run / MODEL_FILE)
    out(
        f"{run}: already at {model.num_timesteps} timesteps; {MODEL_FILE} written from its "
        "checkpoint"
    )


def _learn(
    model: MaskablePPO,
    config: TrainConfig,
    run: Path,
    remaining: int,
    extra: list[BaseCallback | None],
    out: Printer,
) -> int:
    """Train; returns 0, or the exit status of the signal that stopped training."""
    callbacks: list[BaseCallback] = [
        AtomicCheckpoint(run / CHECKPOINT_FILE, config.checkpoint_every)
    ]
    callbacks += [callback for callback in extra if callback is not None]
    out(
        f"training MaskablePPO on {config.env}: {model.num_timesteps} -> {config.timesteps} "
        f"timesteps, {config.n_envs} env(s), run folder {run}"
    )
    try:
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            reset_num_timesteps=False,
            progress_bar=config.progress_bar,
            tb_log_name="ppo",
        )
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as Terminated
        atomic_save_model(model, run / CHECKPOINT_FILE)
        out(
            f"{'terminated' if isinstance(stop, Terminated) else 'interrupted'} at "
            f"{model.num_timesteps} timesteps; checkpoint saved. Continue with "
            f"'simic train --resume {run} --timesteps {config.timesteps}'"
        )
        return exit_status(stop)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # An env worker died (SIGKILL, the OOM killer): the model itself is intact.
        atomic_save_model(model, run / CHECKPOINT_FILE)
        raise SimicError(
            f"an environment worker process died (killed, or out of memory) at "
            f"{model.num_timesteps} timesteps; checkpoint saved. Continue with "
            f"'simic train --resume {run} --timesteps {config.timesteps}'"
        ) from None
    atomic_save_model(model, run / CHECKPOINT_FILE)
    atomic_save_model(model, run / MODEL_FILE)
    out(f"done: {model.num_timesteps} timesteps; model saved to {run / MODEL_FILE}")
    return 0
