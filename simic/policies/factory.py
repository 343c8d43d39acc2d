"""Building a policy from what a user types: a registered name, a run folder, a saved model, or
a model shipped with the package (``pretrained:<name>``, :mod:`simic.pretrained`).

This is the one place that knows which engine trained a run: a run folder's ``config.json``
records it (``engine``: ``sb3`` runs play their ``model.zip`` with :class:`PPOPolicy`, ``rllib``
runs their RLModule with :class:`RLlibPolicy`).
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym

from simic.common.runfolder import CONFIG_FILE, MODEL_FILE
from simic.policies.base import Policy, PolicyError
from simic.policies.ppo import PPOPolicy
from simic.policies.registry import POLICIES
from simic.policies.rllib import RLlibPolicy
from simic.pretrained import PREFIX, pretrained_path


def make_policy(
    spec: str | Path, env: gym.Env, *, device: str = "cpu", transfer: bool = False
) -> Policy:
    """The policy registered as ``spec`` (see :func:`list_policies`) or saved at path ``spec``.

    A path is a MaskablePPO ``.zip``, a run folder of ``simic train`` (either engine), or an
    RLlib run's checkpoint or model folder. ``pretrained:<name>`` is a MaskablePPO ``.zip``
    that ships with the package (:func:`simic.pretrained.list_pretrained`).

    Raises:
        UnknownChoiceError: ``spec`` is neither a known name, a shipped model nor a path (with
            a suggestion).
        PolicyFileNotFoundError: the path does not exist.
        PolicyError: the path holds no policy, or one trained on other spaces, or (unless
            ``transfer``) on another environment.
    """
    if isinstance(spec, str) and spec in POLICIES:
        return POLICIES.get(spec)(env)
    if isinstance(spec, str) and spec.startswith(PREFIX):
        return PPOPolicy(pretrained_path(spec), env, device=device, transfer=transfer)
    if _looks_like_path(spec):
        return _saved_policy(Path(spec), env, device, transfer)
    raise POLICIES.unknown(
        spec, context=f"(a name, {PREFIX}NAME, a run folder, or the path of a MaskablePPO .zip)"
    )


def _saved_policy(path: Path, env: gym.Env, device: str, transfer: bool) -> Policy:
    if not path.is_dir():
        return PPOPolicy(path, env, device=device, transfer=transfer)
    if run_engine(path) == "sb3":
        return PPOPolicy(path / MODEL_FILE, env, device=device, transfer=transfer)
    # An rllib run folder, or one of its checkpoint or model folders.
    return RLlibPolicy(path, env, device=device, transfer=transfer)


def run_engine(folder: Path) -> str | None:
    """The engine that trained the run in ``folder`` (``None``: no run folder)."""
    file = folder / CONFIG_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{file} cannot be read ({exc}); is {folder} a run folder?") from None
    # Runs recorded before the engine was a setting were all sb3 runs.
    return str(data.get("engine", "sb3")) if isinstance(data, dict) else None


def _looks_like_path(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return True
    return spec.endswith(".zip") or "/" in spec or "\\" in spec or Path(spec).exists()
