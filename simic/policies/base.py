"""What every growth policy is: the :class:`Policy` protocol, its errors, and :class:`MaskedPolicy`.

A policy decides from the observation vector (read through the environment's
:class:`~envs.ObservationLayout` as a typed :class:`~envs.observation.ObservationView`) and the
action mask, plus whatever it remembers within the episode. It sees the environment only at
construction, to learn its layout, action codec, slots and blueprints, never its model: the same
policy works on a vector environment's observations.

Every :class:`MaskedPolicy` returns only valid actions: :meth:`MaskedPolicy.predict` replaces a
masked choice by :data:`WAIT_INDEX` (always valid) and counts it in ``masked_fallbacks``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

import envs
from envs.actions import WAIT, ActionCodec, ActionKind, GrowthAction
from envs.observation import ObservationView
from kasmina import UserError

# Every codec puts WAIT at the same index, whatever its slots and blueprints.
WAIT_INDEX = ActionCodec((), ()).encode(WAIT)
"""The action index of :data:`envs.actions.WAIT`; the environment's mask always allows it."""


class PolicyError(UserError, ValueError):
    """A policy that cannot be built or used: a bad file, mismatched spaces, a bad threshold."""


class PolicyFileNotFoundError(PolicyError, FileNotFoundError):
    """A policy path that does not exist."""


@runtime_checkable
class Policy(Protocol):
    """What :func:`simic.episodes.run_episode` (and anything else that plays the game) needs."""

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Forget the last episode; called at every episode start (random policies reseed)."""
        ...

    def predict(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        """The action to take given one observation vector and the current action mask."""
        ...


def growth_env(env: gym.Env) -> envs.GrowthEnv:
    """The :class:`envs.GrowthEnv` under ``env``'s wrappers, or a :class:`PolicyError`."""
    base = env.unwrapped
    if not isinstance(base, envs.GrowthEnv):
        raise PolicyError(f"policies need a GrowthEnv (simic/Grow-*), got {type(base).__name__}")
    return base


class MaskedPolicy(ABC):
    """Base of the built-in policies: shape checks, action helpers and the mask guarantee.

    Subclasses implement :meth:`choose`; :meth:`predict` returns its choice only if the mask
    allows it and otherwise WAIT, counting the fallback in ``masked_fallbacks`` (a policy that
    needs the fallback has a bug, but an invalid action would cost the agent a penalty).
    """

    name: str = "masked"  # set by @register_policy for the registered ones

    def __init__(self, env: gym.Env) -> None:
        base = growth_env(env)
        self.codec = base.codec
        self.slots = base.slots
        self.layout = base.layout
        self.masked_fallbacks = 0
        self.episode_seed: int | None = None

    def reset(self, seed: int | None = None) -> None:
        """Start an episode (a stateless policy only notes the seed)."""
        self.episode_seed = seed

    def predict(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        obs = np.asarray(observation, dtype=np.float32)
        mask = np.asarray(action_masks, dtype=bool)
        size = len(self.layout)
        if obs.shape != (size,) or mask.shape != (self.codec.n,):
            raise PolicyError(
                f"{self.name}: expected one observation of shape ({size},) and a "
                f"mask of shape ({self.codec.n},), got {obs.shape} and {mask.shape}"
            )
        action = int(self.choose(obs, mask))
        if 0 <= action < self.codec.n and mask[action]:
            return action
        self.masked_fallbacks += 1
        return WAIT_INDEX

    @abstractmethod
    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        """The preferred action (it may be masked: :meth:`predict` guards the result)."""

    def read(self, observation: np.ndarray) -> ObservationView:
        """The typed view of ``observation`` (see :meth:`envs.ObservationLayout.read`)."""
        return self.layout.read(observation)

    def action(self, kind: ActionKind, slot: str, blueprint: str | None = None) -> int:
        """The integer of ``kind`` on ``slot`` (and ``blueprint`` for GERMINATE)."""
        return self.codec.encode(GrowthAction(kind, slot, blueprint))

    @staticmethod
    def first_valid(candidates: Iterable[int], action_masks: np.ndarray) -> int:
        """The first candidate the mask allows, or WAIT."""
        return next((a for a in candidates if action_masks[a]), WAIT_INDEX)
