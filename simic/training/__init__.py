"""Training the growth controller: a :class:`TrainConfig` -> a run folder.

============================= =================================================================
module                        its one job
============================= =================================================================
``training.config``           :class:`TrainConfig`, :class:`PPOConfig`, :class:`Engine`: checked
``training.runs``             the run folder both engines keep: result, recorded config, reuse
``training.sb3``              the sb3 engine: MaskablePPO, SubprocVecEnv workers, resume
``training.callbacks``        the sb3 engine's atomic checkpoints and held-out evaluation
``training.rllib``            the rllib engine: RLlib's PPO on Ray, same kind of run folder
``training.rllib_setup``      a :class:`TrainConfig` in RLlib's terms (env, module, algorithm)
``training.warmstart``        cloning a teacher policy into PPO before it learns (and anchors)
``training.context_features`` the task family's context features, as policy-network inputs
============================= =================================================================

May import ``simic.common`` and ``simic.policies``; :func:`train` picks the engine by
``config.engine`` (an :class:`Engine`) and imports Ray only for ``Engine.RLLIB``.
"""

from __future__ import annotations

from simic.common.printing import Printer
from simic.training import sb3
from simic.training.config import (
    ENGINES,
    RESUMABLE,
    Engine,
    PPOConfig,
    TrainConfig,
    Vectorization,
)
from simic.training.runs import TrainResult, check_run_folder, load_run_config

__all__ = [
    "ENGINES",
    "RESUMABLE",
    "Engine",
    "PPOConfig",
    "TrainConfig",
    "TrainResult",
    "Vectorization",
    "check_run_folder",
    "load_run_config",
    "train",
]


def train(
    config: TrainConfig, *, resume: bool = False, address: str | None = None, out: Printer = print
) -> TrainResult:
    """Train (or, with ``resume``, continue) as ``config`` says, into the run folder
    ``config.out``, with the engine it names: :func:`simic.training.sb3.train` or, on the Ray
    cluster at ``address`` (a local Ray by default), :func:`simic.training.rllib.train`."""
    if config.engine is Engine.RLLIB:
        from simic.training import rllib  # imports Ray only when asked for

        return rllib.train(config, resume=resume, address=address, out=out)
    return sb3.train(config, resume=resume, address=address, out=out)
