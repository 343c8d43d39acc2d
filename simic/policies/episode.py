"""Playing one seeded episode of a policy: :func:`run_episode` and its :class:`EpisodeResult`.

The one episode loop of the project: evaluation, warm-start demonstrations (which record every
:class:`Step` through ``on_step``) and the benchmarks all play episodes with it.

The result stays typed (its events hold :class:`~envs.actions.GrowthAction`) until a writer
turns it into JSON or CSV (:mod:`simic.evaluation.runner`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from envs.actions import GrowthAction
from simic.policies.base import WAIT_INDEX, Policy, PolicyError


@dataclass(frozen=True)
class EpisodeResult:
    """One played episode.

    Attributes:
        policy: The policy's name.
        seed: The seed the environment and the policy were reset with.
        actions: Every action taken, in order.
        rewards: Every reward received.
        return_: Their sum.
        test_accuracy: Final test accuracy (NaN if the episode was truncated by a wrapper).
        val_accuracies: Validation accuracy at reset, then after every step.
        param_growth: Final seed parameters / host parameters.
        params: Final parameters in total.
        seeds_germinated: Seeds germinated (from the final info).
        seeds_fossilized: Seeds fossilized.
        seeds_pruned: Seeds pruned (by the policy or by out-of-memory recovery).
        events: ``(step, action)`` for every valid action other than WAIT; ``step`` is the
            0-based index of the step it was taken at.
        diverged: The training loss stopped being finite.
        instance: The task-family instance played (``info["instance"]``); ``None`` for a
            plain env.
    """

    policy: str
    seed: int
    actions: tuple[int, ...]
    rewards: tuple[float, ...]
    return_: float
    test_accuracy: float
    val_accuracies: tuple[float, ...]
    param_growth: float
    params: int
    seeds_germinated: int
    seeds_fossilized: int
    seeds_pruned: int
    events: tuple[tuple[int, GrowthAction], ...]
    diverged: bool
    instance: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of an episode, as :func:`run_episode` hands it to ``on_step``.

    Attributes:
        index: 0-based step number.
        observation: What the policy saw.
        mask: The action mask it saw.
        action: What it chose.
        reward: The reward for it.
        info: The env's info after the step.
    """

    index: int
    observation: Any
    mask: Any
    action: int
    reward: float
    info: Mapping[str, Any]


def run_episode(
    env: gym.Env,
    policy: Policy,
    seed: int,
    options: Mapping[str, Any] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> EpisodeResult:
    """Play one episode of ``policy`` on ``env`` from ``env.reset(seed=seed)`` (deterministic).

    The policy is reset with the same seed and sees ``env.unwrapped.action_masks()`` each step.
    ``options`` go to ``env.reset``: ``{"instance": ...}`` picks a task family's instance, so
    that every policy meets the same one. ``on_step`` (if given) sees every :class:`Step` right
    after it was taken, before the policy chooses the next action.
    """
    base = env.unwrapped
    masks = getattr(base, "action_masks", None)
    if masks is None:
        raise PolicyError(f"{type(base).__name__} has no action_masks(); use a GrowthEnv")
    observation, info = env.reset(seed=seed, options=None if options is None else dict(options))
    record = EpisodeRecord.start(policy, seed, info)
    while True:
        seen, mask = observation, masks()
        action = int(policy.predict(seen, mask))
        observation, reward, terminated, truncated, info = env.step(action)
        if on_step is not None:
            on_step(Step(len(record.actions), seen, mask, action, float(reward), info))
        result = record.add(base, action, float(reward), terminated or truncated, info)
        if result is not None:
            return result


@dataclass
class EpisodeRecord:
    """What an episode's loop keeps, step by step, until the episode ends.

    :func:`run_episode` keeps one; a loop that steps many envs at once (a batched evaluation)
    keeps one per env, so every episode is booked the same way.
    """

    policy: str
    seed: int
    vals: list[float]
    instance: str | None = None
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    events: list[tuple[int, GrowthAction]] = field(default_factory=list)

    @classmethod
    def start(cls, policy: Policy, seed: int, info: Mapping[str, Any]) -> EpisodeRecord:
        """The record of an episode just reset (``info``: the reset's) and reset ``policy``."""
        policy.reset(seed)
        return cls(policy.name, seed, [float(info["val_accuracy"])], info.get("instance"))

    def add(
        self, env: Any, action: int, reward: float, done: bool, info: Mapping[str, Any]
    ) -> EpisodeResult | None:
        """Book one step of ``env`` (the unwrapped growth env); the result once ``done``."""
        if action != WAIT_INDEX and not info["invalid_action"]:
            self.events.append((len(self.actions), env.decode_action(action)))
        self.actions.append(action)
        self.rewards.append(reward)
        self.vals.append(float(info["val_accuracy"]))
        if not done:
            return None
        result = _result(self, info)
        return (
            result if self.instance is None else dataclasses.replace(result, instance=self.instance)
        )


def _result(record: EpisodeRecord, info: Mapping[str, Any]) -> EpisodeResult:
    rewards = record.rewards
    return EpisodeResult(
        policy=record.policy,
        seed=record.seed,
        actions=tuple(record.actions),
        rewards=tuple(rewards),
        return_=math.fsum(rewards),
        test_accuracy=float(info.get("test_accuracy", math.nan)),
        val_accuracies=tuple(record.vals),
        events=tuple(record.events),
        param_growth=float(info["param_growth"]),
        params=int(info["params"]),
        seeds_germinated=int(info["seeds_germinated"]),
        seeds_fossilized=int(info["seeds_fossilized"]),
        seeds_pruned=int(info["seeds_pruned"]),
        diverged=bool(info["diverged"]),
    )
