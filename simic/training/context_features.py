"""Gaussian bumps of a task family's context: policy inputs that tell instances apart.

A task family's observation carries its instance as a few scalars (``context.price``,
``context.host_size``; :class:`envs.observation.ContextView`), which an MLP reads smoothly: two
instances with close values share most of what PPO learns about them. :class:`ContextBumps`
appends, for each context feature, ``bumps`` Gaussian bumps evenly spaced over [0, 1] (one
spacing wide), so each region of a context feature gets first-layer weights of its own; the raw
observation is kept.

Measured for the learning proof (attempts 4 and 5: one run each, checked on training-range seeds;
attempt 6: ``benchmarks/results/attempts/attempt6``): with 21 bumps the (16,32) host at
param_rent 0 kept the cloned teacher's schedule, which 7 bumps changed, but (8,16) at
param_rent 0 did not. Attempt 6 (21 bumps and a behaviour-cloning anchor) lost 0.013
of return against the best fixed schedule on the held-out instances, whose contexts fall between
the trained bumps; attempt 2 (no bumps, no anchor) gained 0.003 there. Bumps separate instances;
they do not by themselves keep PPO from leaving a good choice.

It is a stable-baselines3 features extractor, chosen by ``PPOConfig.context_bumps``
(:func:`policy_kwargs`); a saved model names it, so ``simic evaluate`` loads it like any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from envs.observation import ObservationLayout
from simic.common.errors import SimicError


class ContextBumps(BaseFeaturesExtractor):
    """The observation, then ``bumps`` Gaussian bumps of each feature at ``indices``.

    Bump ``j`` of a feature with value ``v`` is ``exp(-((v - c_j) / w)^2 / 2)``, with centres
    ``c_j = j / (bumps - 1)`` and width ``w = 1 / (bumps - 1)``.
    """

    def __init__(self, observation_space: spaces.Box, indices: Sequence[int], bumps: int) -> None:
        size = int(observation_space.shape[0])
        indices = [int(i) for i in indices]
        if not indices or any(not 0 <= i < size for i in indices):
            raise SimicError(f"context indices must lie in [0, {size}), got {indices!r}")
        if bumps < 2:
            raise SimicError(f"ContextBumps needs 2 or more bumps, got {bumps!r}")
        super().__init__(observation_space, features_dim=size + len(indices) * bumps)
        self.register_buffer("indices", torch.tensor(indices, dtype=torch.long))
        self.register_buffer("centres", torch.linspace(0.0, 1.0, bumps))
        self.width = 1.0 / (bumps - 1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        context = observations.index_select(1, self.indices).unsqueeze(-1)  # (batch, k, 1)
        z = (context - self.centres) / self.width
        return torch.cat([observations, torch.exp(-0.5 * z * z).flatten(1)], dim=1)


def context_indices(layout: ObservationLayout, env_id: str) -> tuple[int, ...]:
    """Positions of the context features in ``layout``; an env without any is refused."""
    indices = layout.context_positions
    if not indices:
        raise SimicError(
            f"ppo.context_bumps encodes a task family's context, and {env_id} observes none; "
            "train on a family (see 'simic envs') or set ppo.context_bumps to 0"
        )
    return indices


def policy_kwargs(indices: Sequence[int], bumps: int) -> dict[str, Any]:
    """The MaskablePPO ``policy_kwargs`` entries that put :class:`ContextBumps` in front."""
    return {
        "features_extractor_class": ContextBumps,
        "features_extractor_kwargs": {"indices": list(indices), "bumps": bumps},
    }
