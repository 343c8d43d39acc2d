"""Playing an RLlib run: :class:`RLlibPolicy` loads the RLModule that ``simic train --engine
rllib`` trained.

It plays like :class:`~simic.policies.ppo.PPOPolicy` (``deterministic=True``): the action with
the largest logit once the mask has been applied (RLlib's action-masking module adds the mask
to the logits), with the same checks at load: the spaces must match, and (unless ``transfer``)
so must the environment the run recorded (:mod:`simic.common.provenance`). Loading needs Ray's RLlib
(the ``[ray]`` extra), but no Ray session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from simic.common.raysupport import require_ray
from simic.policies.base import MaskedPolicy, PolicyError, PolicyFileNotFoundError, growth_env
from simic.policies.ppo import check_spaces, check_trained_env
from simic.policies.rllib_checkpoint import module_folder, signature_of


class RLlibPolicy(MaskedPolicy):
    """The RLModule of an RLlib run, acting deterministically on the masked logits.

    ``path`` is the run folder (its final ``model/``, else its latest checkpoint), an Algorithm
    checkpoint (``RUN/checkpoints/latest``) or an RLModule folder (``RUN/model``,
    ``RUN/best_model``).
    """

    def __init__(
        self, path: str | Path, env: gym.Env, device: str = "cpu", transfer: bool = False
    ) -> None:
        super().__init__(env)
        self.path = Path(path)
        self.name = f"rllib:{self.path.name}"
        self.folder = _module_folder(self.path)
        self.device = torch.device(_device(device))
        self.module = load_module(self.folder, self.device)
        if not transfer:
            check_trained_env(signature_of(self.folder), env, self.path)
        spaces = self.module.observation_space  # the env's, with the mask: {observations, mask}
        observations = spaces["observations"] if isinstance(spaces, gym.spaces.Dict) else spaces
        check_spaces(observations, self.module.action_space, growth_env(env), self.path)

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        from ray.rllib.core.columns import Columns

        obs = {
            "observations": torch.as_tensor(observation[None], device=self.device),
            "action_mask": torch.as_tensor(
                action_masks[None], dtype=torch.float32, device=self.device
            ),
        }
        with torch.no_grad():
            logits = self.module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        return int(torch.argmax(logits[0]).item())


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _module_folder(path: Path) -> Path:
    if not path.exists():
        raise PolicyFileNotFoundError(f"policy {str(path)!r} does not exist")
    folder = module_folder(path) if path.is_dir() else None
    if folder is None:
        raise PolicyError(
            f"{str(path)!r} holds no RLlib policy: give a run folder of 'simic train --engine "
            "rllib', its checkpoints/latest, or its model folder"
        )
    return folder


def load_module(folder: Path, device: torch.device | str = "cpu") -> Any:
    """``RLModule.from_checkpoint(folder)`` in eval mode on ``device``, with errors that name
    the folder."""
    require_ray("playing an RLlib run")
    from ray.rllib.core.rl_module.rl_module import RLModule

    try:
        module = RLModule.from_checkpoint(str(folder))
    except Exception as exc:  # pickle, torch and file errors all mean "unusable"
        raise PolicyError(
            f"cannot load an RLlib RLModule from {str(folder)!r} (corrupt, or saved by another "
            f"Ray version): {type(exc).__name__}: {exc}"
        ) from exc
    module.to(device)
    module.eval()
    return module
