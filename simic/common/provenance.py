"""Which environment a model was trained on, recorded in the model file and checked on load.

MNIST-1D, Digits and the transformer task have spaces of the same shape, so a shape check alone
lets a model play an environment it never saw. :class:`EnvSignature` records the env id, the
task and the *meaning* of both spaces (slots, blueprint names, the observation's feature names).
``simic train`` stores it in the model's zip as the attribute :data:`ATTRIBUTE` (SB3 saves an
agent's attributes with it, so it travels with the file); :func:`check_model_env` compares it
with the environment a model is about to play.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

import envs
from simic.common.errors import SimicError

ATTRIBUTE = "simic_env"
"""The model attribute (saved in the zip's ``data``) that holds the signature as a dict."""
RUN_ATTRIBUTE = "simic_run"
"""The model attribute that holds the identity of the run that trained it
(:meth:`simic.training.config.TrainConfig.identity`), checked when the run is resumed."""


@dataclass(frozen=True)
class EnvSignature:
    """What a policy's inputs and outputs mean in one environment."""

    env_id: str | None
    task: str
    slots: tuple[str, ...]
    blueprints: tuple[str, ...]
    observation: tuple[str, ...]

    @classmethod
    def of(cls, env: gym.Env) -> EnvSignature:
        base = env.unwrapped
        if not isinstance(base, envs.GrowthEnv):
            raise TypeError(f"expected a GrowthEnv, got {type(base).__name__}")
        spec = base.spec or env.spec
        return cls(
            spec.id if spec is not None else None,
            # A family's episodes change task; the family is what the model was trained on.
            base.family.env_id if base.family is not None else base.task.name,
            tuple(base.slots),
            tuple(base.codec.blueprints),
            tuple(f.name for f in base.layout.features),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSignature:
        return cls(
            data.get("env_id"),
            str(data["task"]),
            tuple(data["slots"]),
            tuple(data["blueprints"]),
            tuple(data["observation"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def name(self) -> str:
        return self.env_id or f"task {self.task}"

    def differences(self, other: EnvSignature) -> list[str]:
        """What differs between the two, in words (empty if they are the same environment)."""
        found = []
        if self.env_id != other.env_id and None not in (self.env_id, other.env_id):
            found.append("env id")
        for label in ("task", "slots", "blueprints", "observation"):
            if getattr(self, label) != getattr(other, label):
                found.append(label if label != "observation" else "observation features")
        return found


def record(model: Any, signature: EnvSignature) -> None:
    """Attach ``signature`` to ``model`` so that ``model.save`` stores it."""
    setattr(model, ATTRIBUTE, signature.to_dict())


def recorded(model: Any) -> EnvSignature | None:
    """The signature saved with ``model``; ``None`` for models saved before it was recorded."""
    data = getattr(model, ATTRIBUTE, None)
    if not isinstance(data, Mapping):
        return None
    try:
        return EnvSignature.from_dict(data)
    except (KeyError, TypeError):
        return None


def record_run(model: Any, identity: Mapping[str, Any]) -> None:
    """Attach the run's identity to ``model`` so that every checkpoint carries it."""
    setattr(model, RUN_ATTRIBUTE, _as_json(identity))


def recorded_run(model: Any) -> dict[str, Any] | None:
    """The run identity saved with ``model``; ``None`` for checkpoints saved before it was."""
    data = getattr(model, RUN_ATTRIBUTE, None)
    return dict(data) if isinstance(data, Mapping) else None


def _as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    # Tuples and lists compare equal once both have been through JSON, as a checkpoint has.
    return json.loads(json.dumps(dict(value)))


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and key != "env_kwargs":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_resume(
    run: Path,
    identity: Mapping[str, Any],
    signature: EnvSignature,
    trained_env: EnvSignature | None,
    trained_run: Mapping[str, Any] | None,
    added: Mapping[str, Any] | None = None,
) -> None:
    """Refuse to resume a run whose ``config.json`` is not the run its checkpoint holds.

    ``identity`` and ``signature`` come from ``config.json``; ``trained_env`` and
    ``trained_run`` from the checkpoint (``None`` when it predates them: not checked).
    ``added``: settings introduced after some checkpoints were saved, with the value their
    runs had; a checkpoint without one counts as having that value.
    """
    found: list[str] = []
    if trained_run is not None:
        ours = _flat(_as_json(identity))
        theirs = {**_flat(_as_json(added or {})), **_flat(trained_run)}
        for key in sorted(set(ours) | set(theirs)):
            if ours.get(key) != theirs.get(key):
                found.append(f"{key} {theirs.get(key)!r} in the checkpoint, {ours.get(key)!r} now")
    if trained_env is not None and not found and (what := trained_env.differences(signature)):
        found.append(f"the environment ({', '.join(what)}): {trained_env.name()} in the checkpoint")
    if found:
        shown = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
        raise SimicError(
            f"{run / 'config.json'} does not match the run its checkpoint holds ({shown}): it was "
            "edited after the run started; put it back, or start a new run in another folder"
        )
