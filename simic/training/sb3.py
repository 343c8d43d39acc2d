"""``simic train`` (``--engine sb3``, the default): MaskablePPO on a growth env, in a run folder.

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
checkpoint's timestep count. :func:`simic.training.train` dispatches here or to
:mod:`simic.training.rllib`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from envs.atomic import atomic_write_text
from simic.common import provenance
from simic.common.envutil import check_env_kwargs, make_env
from simic.common.errors import SimicError
from simic.common.printing import Printer
from simic.common.runfolder import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    DEMOS_FILE,
    MODEL_FILE,
    SB3_RUN_FILES,
    WARM_START_FILE,
    claim,
)
from simic.common.seeding import TrainingSeeds, draw_training_seeds
from simic.common.signals import (
    Terminated,
    exit_status,
    ignore_stops,
    sigterm_interrupts,
    stops_blocked,
)
from simic.policies import make_policy
from simic.training import context_features, warmstart
from simic.training.batched import BatchedVecEnv
from simic.training.batched_workers import SplitBatchedVecEnv
from simic.training.callbacks import AtomicCheckpoint, atomic_save_model, held_out_evaluation
from simic.training.config import ADDED_SETTINGS, Engine, TrainConfig, Vectorization
from simic.training.runs import TrainResult, check_run_folder


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


def build_vec_env(config: TrainConfig) -> VecEnv:
    if config.vectorization is Vectorization.BATCHED:
        kwargs = dict(config.env_kwargs)
        if config.batched_workers == 1:
            vec: VecEnv = BatchedVecEnv(config.env, config.n_envs, kwargs)
        else:
            with stops_blocked():  # the workers start deaf to a group signal
                vec = SplitBatchedVecEnv(config.env, config.n_envs, config.batched_workers, kwargs)
        vec.seed(config.seed)
        return vec
    make = _worker_env if config.n_envs > 1 else _training_env
    fns = [
        functools.partial(make, config.env, dict(config.env_kwargs)) for _ in range(config.n_envs)
    ]
    if config.n_envs == 1:
        vec = DummyVecEnv(fns)
    else:
        with stops_blocked():  # the workers (and the forkserver) start deaf to a group signal
            vec = SubprocVecEnv(fns)
    vec.seed(config.seed)
    return vec


def _close(vec: VecEnv | None, interrupted: bool = False) -> None:
    if vec is None:
        return
    if interrupted and isinstance(vec, SubprocVecEnv | SplitBatchedVecEnv):
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
    """Clone the teacher into the new model (:mod:`simic.training.warmstart`); report in the run.

    With an anchor, the demonstrations are kept in the run folder for a resumed run."""
    rng = np.random.default_rng(config.seed)  # training-range seeds, fixed by the run's seed
    seeds = draw_training_seeds(rng, config.warm_start_episodes)
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


def train(
    config: TrainConfig, *, resume: bool = False, address: str | None = None, out: Printer = print
) -> TrainResult:
    """Train (or, with ``resume``, continue training) MaskablePPO as ``config`` says.

    The run folder is ``config.out``; while training, this process owns it
    (:func:`simic.common.runfolder.claim`). Ctrl-C and SIGTERM save a checkpoint and return with
    ``interrupted`` set. Resuming a run that died before its first checkpoint starts it again
    from timestep 0 with its recorded config. A config with ``engine="rllib"`` trains with Ray
    RLlib instead (:func:`simic.training.rllib.train`, on the Ray cluster at ``address``).
    """
    if config.engine is not Engine.SB3:
        raise ValueError(f"sb3.train got a config for engine {config.engine!r}")
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
    with claim(run, files=SB3_RUN_FILES), sigterm_interrupts():
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
        added=ADDED_SETTINGS,
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
        eval_cb = held_out_evaluation(config, run, resumed=from_checkpoint)
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
