"""BatchedGrowthEnv: N growth episodes stepped in one call, as Gymnasium's vector entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import InvalidActionError
from envs.batched.grouped_host import host_key
from envs.batched.work import measure_group, train_group
from envs.config import ConfigError
from envs.family_env import FamilyGrowthEnv
from envs.growth_env import GrowthEnv
from envs.registration import BATCHABLE_IDS, id_of
from envs.stepping import SeedMeasurement, TrainStats
from kasmina.errors import InvalidValueError, UnknownChoiceError

_MODES = {m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}
Result = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


class BatchedGrowthEnv(VectorEnv):
    """N growth episodes whose hosts train as one grouped network, in one process.

    ## Description
    A :class:`gymnasium.vector.VectorEnv` of N :class:`~envs.GrowthEnv` episodes (or
    :class:`~envs.FamilyGrowthEnv` episodes: ``family=``). Each env keeps its own host, seeds,
    optimizers, batch order and random streams, exactly as the single env would; what is batched
    is the tensor work of a step. Hosts of one shape run as one ``groups=N`` network
    (:mod:`envs.batched.grouped_host`), seeds of one (slot, blueprint) run as one grouped module
    (:mod:`envs.batched.seed_groups`), the optimizers step in one foreach call
    (:mod:`envs.batched.optim`), and validation runs per env on a CPU and as one grouped pass
    plus one counterfactual pass per slot on an accelerator (:mod:`envs.batched.work`). Hosts of
    different shapes (a family's widths, a family's other task) run as separate groups in the
    same step.
    Everything else (masks, penalties, lifecycle, reward, observation, info) is the single
    env's own code on that env's episode.

    ## Action Space
    ``MultiDiscrete([n_actions] * N)``: one :class:`~envs.GrowthEnv` action per env.
    :meth:`action_masks` gives the ``(N, n_actions)`` boolean masks, also in
    ``infos["action_mask"]``. A masked action is that env's no-op with its penalty (or, with
    ``strict=True``, the single env's :class:`~envs.InvalidActionError`, prefixed ``env i:``);
    actions are checked for every env before any is carried out, so an error leaves all envs as
    they were.

    ## Observation Space
    ``batch_space`` of the single env's observation space: ``(N, n_features)`` float32.

    ## Rewards
    The single env's, per env.

    ## Episode End
    The single env's, per env. ``metadata["autoreset_mode"]`` says how a finished env restarts:
    ``NEXT_STEP`` (default, as Gymnasium's ``SyncVectorEnv``) resets it on the next ``step``,
    ignoring its action there (reward 0, the reset's observation and info);
    ``SAME_STEP`` resets it at once and puts the last observation and info in
    ``infos["final_obs"]`` / ``infos["final_info"]``.

    ## Arguments
    ``BatchedGrowthEnv(num_envs, task="mnist1d", *, family=None,
    autoreset_mode="NextStep", **kwargs)``: ``kwargs`` are :class:`~envs.GrowthEnvConfig`
    fields, shared by all envs. ``gymnasium.make_vec(id, num_envs=N,
    vectorization_mode="vector_entry_point")`` builds it for every id of
    :data:`envs.BATCHABLE_IDS` (the CNN tasks and the families); transformer hosts are refused.
    ``reset(seed=s)`` seeds env ``e`` with ``s + e`` (a list gives one seed per env).

    ## Agreement with the single env
    Env ``e`` draws the same host, batches and seed weights as ``GrowthEnv`` reset with its
    seed; its numbers differ only by float reassociation in grouped convolutions, the batched
    head and the loss sum: about 1e-7 relative after one step, up to ~4e-4 absolute in an
    observation after a 25-step episode (Adam turns rounding in near-zero gradients into
    full-size steps); the tests hold episodes to ``rtol=1e-4, atol=1e-5``. Discrete outcomes
    (stages, counts, masks, termination) agree unless a validation logit tie flips.

    ## Version History
    * v0: initial version (the single env's v0 numbers, within rounding).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        task: str | None = None,
        *,
        family: str | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise InvalidValueError(f"num_envs must be a positive int, got {num_envs!r}")
        mode = autoreset_mode.value if isinstance(autoreset_mode, AutoresetMode) else autoreset_mode
        if mode not in _MODES:
            raise UnknownChoiceError("autoreset_mode", mode, _MODES)
        self.envs: list[GrowthEnv] = [_make(task, family, kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.metadata = {**type(self).metadata, "autoreset_mode": _MODES[mode]}
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        self.last_infos: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        """Per env, the info of the last reset or step (what the SB3 adapter hands on)."""

    # ------------------------------------------------------------------------------ API
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env (env ``e`` with ``seed + e``), or those of ``options["reset_mask"]``.

        ``reset_mask`` (a boolean array of N, Gymnasium's convention) resets only the envs
        it marks, mid-episode or not; the others keep their episode and their observation.
        Other options go to every env's ``reset`` (a family env takes ``instance``).
        """
        options = dict(options or {})
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=bool)))
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise InvalidValueError(f"reset_mask must be a bool array of {self.num_envs} values")
        if seed is None or isinstance(seed, int):
            super().reset(seed=seed)
            seeds = [None if seed is None else seed + e for e in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise InvalidValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        infos = [{} for _ in range(self.num_envs)]
        for e in np.flatnonzero(mask):
            self._obs[e], infos[e] = self._reset_env(int(e), seeds[e], options or None)
            self.last_infos[e] = infos[e]
        self._autoreset[mask] = False
        return self._obs.copy(), self._vector_infos(infos)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        results = self.step_list(actions)
        return (
            self._obs.copy(),  # step_list stacked them
            np.array([r[1] for r in results], dtype=np.float64),
            np.array([r[2] for r in results], dtype=bool),
            np.array([r[3] for r in results], dtype=bool),
            self._vector_infos([r[4] for r in results]),
        )

    def step_list(self, actions: Any) -> list[Result]:
        """:meth:`step` as one ``(obs, reward, terminated, truncated, info)`` per env."""
        actions = self._check_actions(actions)
        restart = [e for e in range(self.num_envs) if self._autoreset[e]]
        playing = [e for e in range(self.num_envs) if not self._autoreset[e]]
        decided = {e: self._interpret(e, actions[e]) for e in playing}  # may raise: nothing done
        results: dict[int, Result] = {}
        for e in restart:
            obs, info = self._reset_env(e, None, None)
            results[e] = (obs, 0.0, False, False, info)
        with self.envs[0]._threads():
            results.update(self._play(decided))
        ordered = [results[e] for e in range(self.num_envs)]
        done = np.array([r[2] or r[3] for r in ordered])
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            ordered = [self._same_step_reset(e, r) if done[e] else r for e, r in enumerate(ordered)]
            done[:] = False
        self._autoreset = done
        for e, result in enumerate(ordered):
            result[4]["action_mask"] = self.envs[e].action_masks()
        self.last_infos = [r[4] for r in ordered]
        self._obs = np.stack([r[0] for r in ordered])
        return ordered

    def action_masks(self) -> np.ndarray:
        """``(N, n_actions)`` boolean masks of the actions valid now, one row per env.

        An env that will restart on the next step (``NEXT_STEP`` autoreset) shows its current
        mask; its action there is ignored.
        """
        return np.stack([env.action_masks() for env in self.envs])

    def close_extras(self, **kwargs: Any) -> None:
        for env in getattr(self, "envs", []):  # [] when the constructor raised
            env.close()

    # ------------------------------------------------------------------------------ parts
    def _reset_env(
        self, e: int, seed: int | None, options: dict[str, Any] | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.envs[e].reset(seed=seed, options=options)
        info["action_mask"] = self.envs[e].action_masks()
        return obs, info

    def _same_step_reset(self, e: int, result: Result) -> Result:
        obs, reward, terminated, truncated, info = result
        new_obs, new_info = self._reset_env(e, None, None)
        return (
            new_obs,
            reward,
            terminated,
            truncated,
            {
                **new_info,
                "final_obs": obs,
                "final_info": info,
            },
        )

    def _check_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.shape != (self.num_envs,):
            raise InvalidActionError(
                f"expected {self.num_envs} actions (one per env), got shape {array.shape}"
            )
        return array

    def _interpret(self, e: int, action: Any) -> tuple[Any, bool]:
        env = self.envs[e]
        env._running()  # a never-reset env raises the single env's error
        try:
            return env._interpret(action)
        except InvalidActionError as exc:
            raise InvalidActionError(f"env {e}: {exc}") from None

    def _play(self, decided: dict[int, tuple[Any, bool]]) -> dict[int, Result]:
        """Apply the actions, train and measure every group, then book each env's step."""
        changes = {e: self.envs[e]._apply(*decided[e]) for e in decided}
        trained: dict[int, TrainStats] = {}
        for group in self._groups(list(decided)):
            envs = [self.envs[e] for e in group]
            stats = train_group(
                [env._ep.model for env in envs],
                [env.data.train for env in envs],
                [env._ep.batches for env in envs],
                envs[0].config.batches_per_step,
            )
            for e, env, s in zip(group, envs, stats, strict=True):
                trained[e] = env._after_training(s)
        measured: dict[int, SeedMeasurement] = {}
        going = [e for e in decided if not trained[e].diverged]
        for group in self._groups(going):
            envs = [self.envs[e] for e in group]
            cfg = envs[0].config
            results = measure_group(
                [env._ep.model for env in envs], envs[0].data.val, cfg.val_batch_size
            )
            measured.update(zip(group, results, strict=True))
        return {
            e: self.envs[e]._finish_step(*decided[e], changes[e], trained[e], measured.get(e))
            for e in decided
        }

    def _groups(self, indices: list[int]) -> list[list[int]]:
        """``indices`` split into groups that can run as one network (same host shape, data)."""
        groups: dict[tuple[object, ...], list[int]] = {}
        for e in indices:
            env = self.envs[e]
            cfg = env.config
            key = (
                host_key(env._ep.model.host),
                id(env.data),
                cfg.batches_per_step,
                cfg.val_batch_size,
            )
            groups.setdefault(key, []).append(e)
        return list(groups.values())

    def _vector_infos(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        vector: dict[str, Any] = {}
        for e, info in enumerate(infos):
            vector = self._add_info(vector, info, e)
        return vector


def _make(task: str | None, family: str | None, kwargs: dict[str, Any]) -> GrowthEnv:
    if family is not None and task is not None:
        raise InvalidValueError("give BatchedGrowthEnv a task or a family, not both")
    env: GrowthEnv = (
        FamilyGrowthEnv(family, **kwargs)
        if family is not None
        else GrowthEnv(task or "mnist1d", **kwargs)
    )
    env_id = family if family is not None else id_of(env.task.name)
    if env_id not in BATCHABLE_IDS:
        raise ConfigError(
            f"BatchedGrowthEnv cannot batch {env_id} (a {env.task.topology.value} host); "
            f"batchable ids: {', '.join(BATCHABLE_IDS)} (use vectorization_mode='sync' for others)"
        )
    return env
