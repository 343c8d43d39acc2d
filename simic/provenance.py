"""Which environment a model was trained on, recorded in the model file and checked on load.

MNIST-1D, Digits and the transformer task have spaces of the same shape, so a shape check alone
lets a model play an environment it never saw. :class:`EnvSignature` records the env id, the
task and the *meaning* of both spaces (slots, blueprint names, the observation's feature names).
``simic train`` stores it in the model's zip as the attribute :data:`ATTRIBUTE` (SB3 saves an
agent's attributes with it, so it travels with the file); :func:`check_model_env` compares it
with the environment a model is about to play.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym

import envs

ATTRIBUTE = "simic_env"
"""The model attribute (saved in the zip's ``data``) that holds the signature as a dict."""


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
