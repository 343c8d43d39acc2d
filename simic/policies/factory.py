"""Building a policy from what a user types: a registered name or the path of a saved model."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from simic.policies.base import Policy
from simic.policies.ppo import PPOPolicy
from simic.policies.registry import POLICIES


def make_policy(
    spec: str | Path, env: gym.Env, *, device: str = "cpu", transfer: bool = False
) -> Policy:
    """The policy registered as ``spec`` (see :func:`list_policies`) or loaded from path ``spec``.

    Raises:
        UnknownChoiceError: ``spec`` is neither a known name nor a path (with a suggestion).
        PolicyFileNotFoundError: the path does not exist.
        PolicyError: the file is not a MaskablePPO save, or was trained on other spaces, or
            (unless ``transfer``) on another environment.
    """
    if isinstance(spec, str) and spec in POLICIES:
        return POLICIES.get(spec)(env)
    if _looks_like_path(spec):
        return PPOPolicy(spec, env, device=device, transfer=transfer)
    raise POLICIES.unknown(spec, context="(a name, or the path of a MaskablePPO .zip)")


def _looks_like_path(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return True
    return spec.endswith(".zip") or "/" in spec or "\\" in spec or Path(spec).exists()
