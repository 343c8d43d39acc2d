"""``simic evaluate --batched``: a policy's episodes played N at a time in one batched env.

The jobs are those :func:`simic.evaluation.workers.play_episode` plays one by one; here the
episodes of one (policy, instance) are cut into batches of N seeds and played together in an
:class:`envs.BatchedGrowthEnv`, one policy object per env (policies keep per-episode state).
Every episode is reset with its own seed, so it is the single env's episode with that seed:
the same actions as long as the policy sees the same observations, and numbers within the
batched env's float tolerance (see the README's "Batched environments").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from envs.actions import GrowthAction
from simic.evaluation.report import EvaluatedEpisode
from simic.policies import make_policy
from simic.policies.base import WAIT_INDEX, Policy
from simic.policies.episode import EpisodeResult, episode_result


@dataclasses.dataclass
class _Record:
    """One episode's running record (what ``run_episode`` keeps)."""

    policy: Policy
    seed: int
    vals: list[float]
    actions: list[int] = dataclasses.field(default_factory=list)
    rewards: list[float] = dataclasses.field(default_factory=list)
    events: list[tuple[int, GrowthAction]] = dataclasses.field(default_factory=list)
    result: EpisodeResult | None = None


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
        rows[chunk[e]] = _evaluated(vec.envs[e], result, spec, model_dir, instance)

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
    """One episode per seed (the first ``len(seeds)`` envs), each as ``run_episode`` plays it;
    ``done(e, result)`` is called as env ``e``'s episode ends (before any autoreset)."""
    n = len(seeds)
    seed_list: list[int | None] = [*seeds, *([None] * (vec.num_envs - n))]
    options = None if instance is None else {"instance": instance}
    obs, infos = vec.reset(seed=seed_list, options=options)
    records = [_Record(policies[e], seeds[e], [float(infos["val_accuracy"][e])]) for e in range(n)]
    for record in records:
        record.policy.reset(record.seed)
    while any(r.result is None for r in records):
        masks = vec.action_masks()
        actions = np.zeros(vec.num_envs, dtype=np.int64)  # finished and spare envs WAIT
        for e, record in enumerate(records):
            if record.result is None:
                actions[e] = int(record.policy.predict(obs[e], masks[e]))
        steps = vec.step_list(actions)
        obs = np.stack([s[0] for s in steps])
        for e, record in enumerate(records):
            if record.result is None:
                _book(vec.envs[e], record, int(actions[e]), steps[e])
                if record.result is not None:
                    done(e, record.result)
    return [r.result for r in records if r.result is not None]


def _book(env: envs.GrowthEnv, record: _Record, action: int, step: tuple[Any, ...]) -> None:
    _, reward, terminated, truncated, info = step
    if action != WAIT_INDEX and not info["invalid_action"]:
        record.events.append((len(record.actions), env.decode_action(action)))
    record.actions.append(action)
    record.rewards.append(float(reward))
    record.vals.append(float(info["val_accuracy"]))
    if terminated or truncated:
        result = episode_result(
            record.policy.name,
            record.seed,
            record.actions,
            record.rewards,
            record.vals,
            record.events,
            info,
        )
        instance = info.get("instance")
        record.result = (
            result if instance is None else dataclasses.replace(result, instance=instance)
        )


def _evaluated(
    env: envs.GrowthEnv,
    result: EpisodeResult,
    spec: str,
    model_dir: str | None,
    instance: str | None,
) -> EvaluatedEpisode:
    if model_dir is None:
        return EvaluatedEpisode(result)
    from simic.evaluation.export import export_grown_model
    from simic.evaluation.workers import model_path

    path = model_path(model_dir, spec, result.seed, instance)
    metadata: dict[str, Any] = {"policy": spec, "seed": result.seed}
    if instance is not None:
        metadata["instance"] = instance
    export_grown_model(env, path, metadata=metadata)
    return EvaluatedEpisode(result, str(Path("models") / path.name))
