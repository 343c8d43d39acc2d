"""The callbacks of an sb3 run: periodic atomic checkpoints and the held-out evaluation."""

from __future__ import annotations

import functools
import io
import json
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from envs.atomic import atomic_write_bytes, atomic_write_text
from simic.common.envutil import make_env
from simic.common.runfolder import BEST_FILE, EVALUATIONS_FILE
from simic.common.seeding import SeedCycle
from simic.training.config import TrainConfig
from simic.training.runs import previous_evaluations


def atomic_save_model(model: BaseAlgorithm, path: Path) -> Path:
    """``model.save`` into memory, then one atomic write (:mod:`envs.atomic`) to ``path``."""
    buffer = io.BytesIO()
    model.save(buffer)
    return atomic_write_bytes(path, buffer.getvalue())


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


class HeldOutEvaluation(MaskableEvalCallback):
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


def held_out_evaluation(config: TrainConfig, run: Path, resumed: bool) -> HeldOutEvaluation | None:
    if config.eval_every == 0:
        return None
    seeds = list(range(config.eval_seed, config.eval_seed + config.eval_episodes))
    vec = DummyVecEnv([functools.partial(_eval_env, config.env, dict(config.env_kwargs), seeds)])
    freq = max(1, config.eval_every // config.n_envs)
    return HeldOutEvaluation(vec, run, freq, config.eval_episodes, resumed)


def _eval_env(env_id: str, kwargs: dict[str, Any], seeds: list[int]) -> gym.Env:
    # Module level (not a lambda) so the env can be rebuilt by reference.
    return SeedCycle(Monitor(make_env(env_id, kwargs)), seeds)
