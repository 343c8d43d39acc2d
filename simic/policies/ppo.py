"""Playing a trained agent: :class:`PPOPolicy` loads a ``MaskablePPO`` saved by sb3-contrib.

A model is checked at load against the environment it is about to play: its spaces must match,
and (unless ``transfer``) so must the environment it recorded (:mod:`simic.common.provenance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from simic.common import provenance
from simic.policies.base import MaskedPolicy, PolicyError, PolicyFileNotFoundError, growth_env
from simic.policies.registry import list_policies


class PPOPolicy(MaskedPolicy):
    """A ``sb3_contrib.MaskablePPO`` agent loaded from a ``.zip``, acting deterministically.

    Its observation and action spaces must be the environment's (the same task, slots and
    blueprint set), checked at load. The mask goes to the network, so a masked prediction
    would be a bug; it still falls back to WAIT and is counted in ``masked_fallbacks``.
    """

    def __init__(
        self, path: str | Path, env: gym.Env, device: str = "cpu", transfer: bool = False
    ) -> None:
        super().__init__(env)
        self.path = Path(path)
        self.name = f"ppo:{self.path.name}"
        self.model = load_maskable_ppo(self.path, device)
        if not transfer:
            _check_trained_env(self.model, env, self.path)
        _check_spaces(self.model, growth_env(env), self.path)

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        action, _ = self.model.predict(observation, action_masks=action_masks, deterministic=True)
        return int(np.asarray(action).item())


def load_maskable_ppo(path: Path, device: str = "cpu") -> Any:
    """``MaskablePPO.load(path)`` with errors that name the file and say what is wrong."""
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise PolicyFileNotFoundError(
            f"policy file {str(path)!r} {where}; give a built-in name "
            f"({', '.join(list_policies())}) or the path of a .zip saved by MaskablePPO.save()"
        )
    from sb3_contrib import MaskablePPO  # here: importing sb3 costs seconds that names skip

    try:
        return MaskablePPO.load(path, device=device)
    except Exception as exc:  # sb3 surfaces a bad file as zip, pickle, key or torch errors
        raise PolicyError(
            f"cannot load a MaskablePPO policy from {str(path)!r} (not a file saved by "
            f"MaskablePPO.save(), or corrupt): {type(exc).__name__}: {exc}"
        ) from exc


def _check_trained_env(model: Any, env: gym.Env, path: Path) -> None:
    check_trained_env(provenance.recorded(model), env, path)


def check_trained_env(trained: provenance.EnvSignature | None, env: gym.Env, path: Path) -> None:
    """Refuse a policy trained on another environment (unless ``transfer`` opted in).

    ``trained`` is what the saved policy recorded; ``None`` (saved before signatures were
    recorded) leaves only the spaces to be checked.
    """
    if trained is None:
        return
    here = provenance.EnvSignature.of(env)
    differences = trained.differences(here)
    if differences:
        raise PolicyError(
            f"policy {str(path)!r} was trained on {trained.name()}, not {here.name()} "
            f"({', '.join(differences)} differ); to play it there anyway (a transfer "
            "experiment), pass --transfer"
        )


def _check_spaces(model: Any, env: envs.GrowthEnv, path: Path) -> None:
    check_spaces(model.observation_space, model.action_space, env, path)


def check_spaces(
    observation_space: gym.Space, action_space: gym.Space, env: gym.Env, path: Path
) -> None:
    """Refuse a policy whose observation or action space is not the environment's."""
    for what, theirs, ours in (
        ("observation", observation_space, env.observation_space),
        ("action", action_space, env.action_space),
    ):
        if theirs != ours:
            raise PolicyError(
                f"policy {str(path)!r} was trained on another environment: its {what} space is "
                f"{describe_space(theirs)}, this environment's is {describe_space(ours)} (task, "
                "slots and blueprints must match)"
            )


def describe_space(space: gym.Space) -> str:
    """A space in a few words: its kind and shape, never its bounds array by array."""
    if isinstance(space, gym.spaces.Discrete):
        return f"Discrete({space.n})"
    if isinstance(space, gym.spaces.Box):
        return f"Box of shape {space.shape}"
    return type(space).__name__
