"""N batched envs split over worker processes: one :class:`BatchedVecEnv` slice per core.

``simic train --vectorization batched --n-envs N --batched-workers K``: K processes, each
stepping a slice of the N envs as one :class:`~simic.training.batched.BatchedVecEnv`; the
trainer sees one SB3 ``VecEnv`` of N envs. Env ``e`` is seeded with ``seed + e`` whatever the
split, so it plays the episodes it would play in one process (numbers within the batched env's
float tolerance: the grouping changes the summation order). Workers start deaf to SIGINT and
SIGTERM, as ``SubprocVecEnv``'s do in ``simic train`` (the trainer decides what a signal means).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from simic.common.signals import ignore_stops
from simic.training.batched import BatchedVecEnv


def _serve(remote: Connection, env_id: str, num_envs: int, kwargs: dict[str, Any]) -> None:
    ignore_stops()
    vec = BatchedVecEnv(env_id, num_envs, kwargs)
    while True:
        command, data = remote.recv()
        if command == "close":
            vec.close()
            remote.close()
            return
        if command == "reset":
            vec._seeds = list(data)  # what VecEnv.seed() would have set in this process
            remote.send((vec.reset(), vec.reset_infos))
        elif command == "step":
            remote.send(vec.step(data))
        elif command == "spaces":
            remote.send((vec.observation_space, vec.action_space))
        elif command == "has_attr":
            remote.send(vec.has_attr(data))
        else:  # get_attr, set_attr, env_method
            name, args, kwargs_ = data
            remote.send(getattr(vec, command)(name, *args, **kwargs_))


class SplitBatchedVecEnv(VecEnv):
    """N growth envs as ``workers`` processes, each a batched slice (sizes as even as can be).

    Args:
        env_id: A batchable id (:data:`envs.BATCHABLE_IDS`).
        num_envs: Envs in all.
        workers: Processes (at most ``num_envs``).
        env_kwargs: The growth env's keyword arguments.
    """

    def __init__(
        self, env_id: str, num_envs: int, workers: int, env_kwargs: dict[str, Any]
    ) -> None:
        sizes = [len(part) for part in np.array_split(np.arange(num_envs), workers)]
        self.offsets = np.cumsum([0, *sizes])
        ctx = multiprocessing.get_context("spawn")
        self.remotes: list[Connection] = []
        self.processes = []
        for size in sizes:
            local, remote = ctx.Pipe()
            process = ctx.Process(
                target=_serve, args=(remote, env_id, size, dict(env_kwargs)), daemon=True
            )
            process.start()
            remote.close()
            self.remotes.append(local)
            self.processes.append(process)
        self.remotes[0].send(("spaces", None))
        observation_space, action_space = self.remotes[0].recv()
        self._actions: np.ndarray | None = None
        self.closed = False
        super().__init__(num_envs, observation_space, action_space)

    def _slices(self) -> list[slice]:
        return [slice(a, b) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]

    def reset(self) -> np.ndarray:
        for remote, part in zip(self.remotes, self._slices(), strict=True):
            remote.send(("reset", self._seeds[part]))
        results = [remote.recv() for remote in self.remotes]
        self.reset_infos = [info for _, infos in results for info in infos]
        self._reset_seeds()
        return np.concatenate([obs for obs, _ in results])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async comes first"
        for remote, part in zip(self.remotes, self._slices(), strict=True):
            remote.send(("step", self._actions[part]))
        results = [remote.recv() for remote in self.remotes]
        obs, rewards, dones, infos = zip(*results, strict=True)
        flat = [info for part in infos for info in part]
        return np.concatenate(obs), np.concatenate(rewards), np.concatenate(dones), flat

    def close(self) -> None:
        if self.closed:
            return
        for remote in self.remotes:
            remote.send(("close", None))
        for process in self.processes:
            process.join(timeout=30)
        self.closed = True

    def _call(self, command: str, indices: VecEnvIndices, *args: Any, **kwargs: Any) -> list[Any]:
        """``command`` on every worker holding one of ``indices``, in env order."""
        wanted = self._get_indices(indices)
        out: list[Any] = []
        for w, part in enumerate(self._slices()):
            local = [e - part.start for e in wanted if part.start <= e < part.stop]
            if local:
                self.remotes[w].send((command, (args[0], args[1:], {**kwargs, "indices": local})))
                out += self.remotes[w].recv() or []
        return out

    def has_attr(self, attr_name: str) -> bool:
        # VecEnv.has_attr fetches the attribute from every env; MaskablePPO asks for
        # "action_masks" every rollout, and a bound method pickles its whole env (the model's
        # tensors, shared by file descriptor): measured 0.33 s per rollout at 16 envs.
        self.remotes[0].send(("has_attr", attr_name))
        return bool(self.remotes[0].recv())

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", indices, attr_name, value)

    def env_method(
        self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        return self._call("env_method", indices, method_name, *args, **kwargs)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs
