"""Wrappers for libraries that expect the action mask inside the observation (e.g. Ray RLlib)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DictMaskObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observations become ``{"observations": obs, "action_mask": mask}``.

    The mask is a float32 0/1 vector (a ``Box``, the form RLlib's action-masking models read),
    computed by the wrapped environment's ``action_masks()`` after every reset and step.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # lets gymnasium re-create the stack
        gym.ObservationWrapper.__init__(self, env)
        n = int(env.action_space.n)  # type: ignore[attr-defined]
        self.observation_space = spaces.Dict(
            {
                "observations": env.observation_space,
                "action_mask": spaces.Box(0.0, 1.0, (n,), dtype=np.float32),
            }
        )

    def observation(self, observation: np.ndarray) -> dict[str, Any]:
        mask = self.env.unwrapped.action_masks().astype(np.float32)  # type: ignore[attr-defined]
        return {"observations": observation, "action_mask": mask}
