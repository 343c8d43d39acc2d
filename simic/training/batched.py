"""An SB3 ``VecEnv`` over :class:`envs.BatchedGrowthEnv`: MaskablePPO trains on it unchanged.

sb3-contrib's MaskablePPO takes a stable-baselines3 ``VecEnv``, not a Gymnasium
``VectorEnv``. :class:`BatchedVecEnv` is the thin adapter: what ``DummyVecEnv`` /
``SubprocVecEnv`` of ``TrainingSeeds(Monitor(env))`` do per env, it does over the batched env:

* seeds: ``seed(s)`` then ``reset()`` seeds env ``e``'s episode-seed generator with ``s + e``;
  every episode (first and later) is reset with the next seed it draws from
  :data:`~simic.common.seeding.TRAINING_SEEDS`, as :class:`~simic.common.seeding.TrainingSeeds`
  does, so env ``e`` plays the episodes a subprocess worker ``e`` would;
* SB3's autoreset: a finished env is reset at once, its last observation in
  ``info["terminal_observation"]`` (``TimeLimit.truncated`` is always False: the budget
  terminates);
* ``info["episode"]`` (return, length, time) at an episode's end, as ``Monitor`` writes it;
* ``env_method("action_masks")`` (what ``get_action_masks`` calls) answers with the batched
  env's ``(N, n_actions)`` rows; other methods and attributes go to each env's ``GrowthEnv``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

import envs
from simic.common.seeding import next_training_seed


class BatchedVecEnv(VecEnv):
    """stable-baselines3 ``VecEnv`` of N growth episodes batched in one process.

    Args:
        env_id: A batchable id (:data:`envs.BATCHABLE_IDS`).
        num_envs: Episodes stepped together.
        env_kwargs: The growth env's keyword arguments, shared by all episodes.
    """

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> None:
        batched = gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs
        )
        assert isinstance(batched, envs.BatchedGrowthEnv)
        self.batched = batched
        self._rngs = [np.random.default_rng() for _ in range(num_envs)]
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._started = [time.time()] * num_envs
        self._t0 = time.time()
        self._actions: np.ndarray | None = None
        super().__init__(num_envs, batched.single_observation_space, batched.single_action_space)

    @property
    def unwrapped_envs(self) -> list[envs.GrowthEnv]:
        """Each episode's :class:`~envs.GrowthEnv`."""
        return self.batched.envs

    # ------------------------------------------------------------------------------ stepping
    def reset(self) -> np.ndarray:
        for e, seed in enumerate(self._seeds):
            if seed is not None:  # as TrainingSeeds.reset(seed=s): a new episode-seed stream
                self._rngs[e] = np.random.default_rng(seed)
        obs = self._reset_envs(np.ones(self.num_envs, dtype=bool))
        self._reset_seeds()
        return obs

    def _reset_envs(self, mask: np.ndarray) -> np.ndarray:
        # Only the envs reset draw their next episode seed, as each TrainingSeeds wrapper does.
        seeds = [
            next_training_seed(rng) if m else None for rng, m in zip(self._rngs, mask, strict=True)
        ]
        obs, _ = self.batched.reset(seed=seeds, options={"reset_mask": mask})
        for e in np.flatnonzero(mask):
            self.reset_infos[e] = self.batched.last_infos[e]
            self._returns[e], self._lengths[e], self._started[e] = 0.0, 0, time.time()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async comes first"
        results = self.batched.step_list(self._actions)
        obs = np.stack([r[0] for r in results])
        rewards = np.array([r[1] for r in results], dtype=np.float32)
        dones = np.array([r[2] or r[3] for r in results])
        infos: list[dict[str, Any]] = []
        for e, (last, reward, _, truncated, info) in enumerate(results):
            self._returns[e] += reward
            self._lengths[e] += 1
            info = dict(info)
            if dones[e]:
                info["terminal_observation"] = last
                info["TimeLimit.truncated"] = truncated
                info["episode"] = {
                    "r": round(float(self._returns[e]), 6),
                    "l": int(self._lengths[e]),
                    "t": round(time.time() - self._t0, 6),
                }
            infos.append(info)
        if dones.any():
            obs[dones] = self._reset_envs(dones)[dones]
        return obs, rewards, dones, infos

    # ------------------------------------------------------------------------------ the rest
    def close(self) -> None:
        self.batched.close()

    def _targets(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else indices

    def has_attr(self, attr_name: str) -> bool:
        return hasattr(self.unwrapped_envs[0], attr_name)  # the envs share one class

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.unwrapped_envs[e], attr_name) for e in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for e in self._targets(indices):
            setattr(self.unwrapped_envs[e], attr_name, value)

    def env_method(
        self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        targets = list(self._targets(indices))
        if method_name == "action_masks":  # one call for all rows
            masks = self.batched.action_masks()
            return [masks[e] for e in targets]
        return [getattr(self.unwrapped_envs[e], method_name)(*args, **kwargs) for e in targets]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        # Monitor's episode statistics are written by this adapter itself.
        return [False for _ in self._targets(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs
