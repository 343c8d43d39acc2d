"""``simic evaluate --batched``: a policy's episodes played N at a time in one batched env.

The jobs are those :func:`simic.evaluation.workers.play_episode` plays one by one; here the
episodes of one (policy, instance) are cut into batches of N seeds and played together in an
:class:`envs.BatchedGrowthEnv`, one policy object per env (policies keep per-episode state).
Every episode is reset with its own seed, so it is the single env's episode with that seed:
the same actions as long as the policy sees the same observations, and numbers within the
batched env's float tolerance (see the README's "Batched environments").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from simic.evaluation.report import EvaluatedEpisode
from simic.evaluation.workers import evaluated_episode
from simic.policies import make_policy
from simic.policies.base import Policy
from simic.policies.episode import EpisodeRecord, EpisodeResult


def play_batched(
    jobs: list[tuple[Any, ...]], num_envs: int, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` (``play_episode``'s arguments) ``num_envs`` at a time, filling ``rows``."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, job in enumerate(jobs):
        env_id, kwargs, spec, _, *rest = job
        groups.setdefault((env_id, repr(sorted(kwargs.items())), spec, *rest), []).append(index)
    for indices in groups.values():
        _play_group(jobs, indices, num_envs, rows)


def _play_group(
    jobs: list[tuple[Any, ...]],
    indices: list[int],
    num_envs: int,
    rows: dict[int, EvaluatedEpisode],
) -> None:
    """The episodes ``indices`` of one (env, policy, instance), in batches of ``num_envs``."""
    env_id, kwargs, spec, _, device, model_dir, transfer, instance = jobs[indices[0]]
    size = min(num_envs, len(indices))
    vec = gym.make_vec(env_id, num_envs=size, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(vec, envs.BatchedGrowthEnv)
    policies = [make_policy(spec, env, device=device, transfer=transfer) for env in vec.envs]
    chunk: list[int] = []

    def done(e: int, result: EpisodeResult) -> None:
        # at once, while env e still holds the episode's grown network (before an autoreset)
        rows[chunk[e]] = evaluated_episode(vec.envs[e], result, spec, model_dir)

    try:
        for start in range(0, len(indices), size):
            chunk = indices[start : start + size]
            play_chunk(vec, policies, [int(jobs[i][3]) for i in chunk], instance, done)
    finally:
        vec.close()


def play_chunk(
    vec: envs.BatchedGrowthEnv,
    policies: Sequence[Policy],
    seeds: Sequence[int],
    instance: str | None,
    done: Callable[[int, EpisodeResult], None],
) -> list[EpisodeResult]:
    """One episode per seed (the first ``len(seeds)`` envs), each booked as ``run_episode``
    books it (:class:`~simic.policies.episode.EpisodeRecord`); ``done(e, result)`` is called
    as env ``e``'s episode ends (before any autoreset)."""
    n = len(seeds)
    seed_list: list[int | None] = [*seeds, *([None] * (vec.num_envs - n))]
    options = None if instance is None else {"instance": instance}
    obs, _ = vec.reset(seed=seed_list, options=options)
    records = [EpisodeRecord.start(policies[e], seeds[e], vec.last_infos[e]) for e in range(n)]
    results: list[EpisodeResult | None] = [None] * n
    while any(r is None for r in results):
        masks = vec.action_masks()
        actions = np.zeros(vec.num_envs, dtype=np.int64)  # finished and spare envs WAIT
        for e in range(n):
            if results[e] is None:
                actions[e] = int(policies[e].predict(obs[e], masks[e]))
        steps = vec.step_list(actions)
        obs = np.stack([s[0] for s in steps])
        for e, record in enumerate(records):
            if results[e] is None:
                _, reward, terminated, truncated, info = steps[e]
                action = int(actions[e])
                results[e] = record.add(
                    vec.envs[e], action, float(reward), terminated or truncated, info
                )
                if results[e] is not None:
                    done(e, results[e])
    return [r for r in results if r is not None]
