"""What ``simic train --engine rllib`` runs: a :class:`~simic.training.config.TrainConfig` in
RLlib's terms.

The run is PPO on RLlib's new API stack with its action-masking RLModule
(``ActionMaskingTorchRLModule``), over the growth env wrapped in
:class:`envs.DictMaskObservation` (observations ``{"observations": obs, "action_mask": mask}``),
so that a masked action gets probability 0 as it does in MaskablePPO. Every setting has one
owner, the shared :class:`~simic.training.config.PPOConfig`, translated here:

====================== ===============================================================
simic (SB3 meaning)    RLlib
====================== ===============================================================
learning_rate          ``lr``
n_steps x n_envs       ``train_batch_size_per_learner`` (the rollout; RLlib splits it
                       over the env runners: ``rollout_fragment_length="auto"``)
n_envs                 ``num_envs_per_env_runner`` (vectorised in each env runner)
num_env_runners        ``num_env_runners`` (0: the driver samples itself)
batch_size             ``minibatch_size``
n_epochs               ``num_epochs``
gamma                  ``gamma``
gae_lambda             ``lambda_``
clip_range             ``clip_param``
ent_coef               ``entropy_coeff``
vf_coef                ``vf_loss_coeff``
max_grad_norm          ``grad_clip`` with ``grad_clip_by="global_norm"`` (SB3's clipping)
net_arch               ``fcnet_hiddens``: separate policy and value MLPs (no shared
                       layers, tanh, linear heads), SB3's ``MlpPolicy`` shape
seed                   ``debugging(seed=...)``; training episodes still draw their seeds
                       from [10**9, 2*10**9) (:class:`simic.common.seeding.TrainingSeeds`)
device                 ``num_gpus_per_learner`` (cpu: 0; cuda, or auto with CUDA: 1)
====================== ===============================================================

RLlib settings pinned to SB3's behaviour: ``use_kl_loss=False`` (SB3 has no KL penalty),
``vf_clip_param=inf`` (SB3 does not clip the value loss), ``num_learners=0`` (one learner, in
the driver). Without an RLlib counterpart: ``warm_start`` (refused by ``TrainConfig``),
``progress_bar`` (a line per iteration instead), SB3's per-minibatch advantage normalization
(RLlib normalizes over the whole rollout) and ``mps`` devices (refused). The periodic held-out
evaluation (``eval_every``) is the engine's own (:mod:`simic.training.rllib`).

This module is imported by Ray's worker processes (they build the env and run the callback), so
it imports neither Ray nor stable-baselines3 at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import torch

from envs.wrappers import DictMaskObservation
from simic.common.envutil import make_env
from simic.common.errors import SimicError
from simic.common.seeding import TrainingSeeds

if TYPE_CHECKING:
    from simic.training.config import TrainConfig

ENV_NAME = "simic-growth"
"""The name the env creator is registered under in Ray (``ray.tune.registry.register_env``)."""

INVALID_ACTIONS = "invalid_actions"
"""The env runners' metric: masked actions taken in the iteration (``info["invalid_action"]``)."""
INVALID_ACTIONS_TOTAL = "invalid_actions_lifetime"
"""The same, summed over the whole run (checkpointed with RLlib's metrics)."""


def make_masked_env(env_config: Mapping[str, Any]) -> gym.Env:
    """The env creator: the growth env ``env_config["env"]`` with its mask in the observation.

    Resets without a seed draw training seeds (:class:`~simic.common.seeding.TrainingSeeds`), as the
    SB3 engine's training envs do.
    """
    env = make_env(str(env_config["env"]), dict(env_config.get("env_kwargs") or {}))
    return DictMaskObservation(TrainingSeeds(env))


def count_invalid_actions(*, episode: Any, metrics_logger: Any = None, **_: Any) -> None:
    """RLlib ``on_episode_step`` callback: count the step if the env flagged it invalid."""
    if metrics_logger is None:
        return
    invalid = int(bool(episode.get_infos(-1).get("invalid_action", False)))
    metrics_logger.log_value(INVALID_ACTIONS, invalid, reduce="sum")
    metrics_logger.log_value(INVALID_ACTIONS_TOTAL, invalid, reduce="lifetime_sum")


def learner_gpus(device: str) -> int:
    """GPUs of the (single) learner for ``TrainConfig.device``."""
    if device == "auto":
        return int(torch.cuda.is_available())
    kind = torch.device(device).type
    if kind == "cpu":
        return 0
    if kind == "cuda":
        return 1
    raise SimicError(f"device {device!r}: RLlib learners run on cpu or cuda only; use cpu or auto")


def check(config: TrainConfig) -> None:
    """Settings RLlib cannot run, refused before any file is written or Ray started."""
    learner_gpus(config.device)
    rollout = config.ppo.n_steps * config.n_envs
    if config.ppo.batch_size > rollout:
        raise SimicError(
            f"ppo.batch_size {config.ppo.batch_size} is larger than the rollout (n_steps "
            f"{config.ppo.n_steps} x n_envs {config.n_envs} = {rollout}); RLlib needs "
            "minibatches no larger than the rollout"
        )


def algorithm_config(config: TrainConfig) -> Any:
    """RLlib's ``PPOConfig`` for ``config`` (registers the env creator with the Ray session)."""
    from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.examples.rl_modules.classes.action_masking_rlm import (
        ActionMaskingTorchRLModule,
    )
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_masked_env)
    ppo = config.ppo
    model = {
        "fcnet_hiddens": list(ppo.net_arch),
        "fcnet_activation": "tanh",
        "vf_share_layers": False,
        "head_fcnet_hiddens": [],
    }
    return (
        RLlibPPOConfig()
        .environment(env=ENV_NAME, env_config={"env": config.env, "env_kwargs": config.env_kwargs})
        .env_runners(num_env_runners=config.num_env_runners, num_envs_per_env_runner=config.n_envs)
        .learners(num_learners=0, num_gpus_per_learner=learner_gpus(config.device))
        .training(
            lr=ppo.learning_rate,
            gamma=ppo.gamma,
            lambda_=ppo.gae_lambda,
            clip_param=ppo.clip_range,
            entropy_coeff=ppo.ent_coef,
            vf_loss_coeff=ppo.vf_coef,
            grad_clip=ppo.max_grad_norm,
            grad_clip_by="global_norm",
            num_epochs=ppo.n_epochs,
            minibatch_size=ppo.batch_size,
            train_batch_size_per_learner=ppo.n_steps * config.n_envs,
            use_kl_loss=False,
            vf_clip_param=float("inf"),
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(module_class=ActionMaskingTorchRLModule, model_config=model)
        )
        .callbacks(on_episode_step=count_invalid_actions)
        .debugging(seed=config.seed)
    )
