"""envs: Gymnasium environments in which growing a network while it trains is the game.

Importing this package registers one id per task spec (``envs.TASKS``)::

    simic/Grow-MNIST1D-v0              a deliberately small 1-D CNN on MNIST-1D (the default)
    simic/Grow-MNIST1D-Transformer-v0  a small transformer on MNIST-1D as a 40-token sequence
    simic/Grow-Digits-v0               a small 2-D CNN on scikit-learn's 8x8 digits
    simic/Grow-CIFAR10-v0              a small 2-D CNN on CIFAR-10 (needs a local data_dir)

and one id per task family (``envs.FAMILIES``), whose every episode is one instance (task, host
widths, parameter price) drawn from the family, with the price and host size observed::

    simic/Grow-Family-v0               MNIST-1D, widths (4,8) (8,16) (16,32) x rent 0, 0.05, 0.15
    simic/Grow-Family-HeldOut-v0       held out: MNIST-1D (12,24) and rent 0.1, and Digits

``envs.BatchedGrowthEnv`` steps N episodes of a CNN task or family in one call: the
``vector_entry_point`` of every id in ``envs.BATCHABLE_IDS``
(``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``).

Researchers add their own: ``envs.register_task(envs.TaskSpec(...))`` (a host from
``kasmina.graft`` over any ``nn.Module``, data from ``envs.TaskData.from_tensors``) and
``envs.register_family``; ``gymnasium.make("their_module:<id>")`` imports the module first.

envs builds on kasmina and knows nothing of simic. Note: this top-level ``envs`` package cannot
be installed beside the unrelated PyPI package that is also called ``envs``.
"""

from envs.actions import ActionCodec, ActionKind, GrowthAction, InvalidActionError
from envs.batched import BatchedGrowthEnv
from envs.config import ConfigError, GrowthEnvConfig
from envs.data import DataCorruptError, DataUnavailableError, Split, TaskData
from envs.family import (
    FAMILIES,
    HiddenFactor,
    Instance,
    InstanceError,
    TaskFamily,
    get_family,
)
from envs.family_env import FamilyGrowthEnv
from envs.growth_env import GrowthEnv
from envs.observation import UNKNOWN, ContextView, ObservationLayout
from envs.recording import EpisodeRecord, RecordEpisode, ReplayReport
from envs.registration import (
    BATCHABLE_IDS,
    EMBEDDED_IDS,
    ENV_IDS,
    FAMILY_IDS,
    TaskRegistrationError,
    register_envs,
    register_family,
    register_task,
)
from envs.reward import RewardContext, RewardMode, RewardTerms
from envs.tasks import TASKS, TaskSpec, get_task, task_for_id
from envs.wrappers import DictMaskObservation

register_envs()

__all__ = [
    "BATCHABLE_IDS",
    "EMBEDDED_IDS",
    "ENV_IDS",
    "FAMILIES",
    "FAMILY_IDS",
    "TASKS",
    "UNKNOWN",
    "ActionCodec",
    "ActionKind",
    "BatchedGrowthEnv",
    "ConfigError",
    "ContextView",
    "DataCorruptError",
    "DataUnavailableError",
    "DictMaskObservation",
    "EpisodeRecord",
    "FamilyGrowthEnv",
    "GrowthAction",
    "GrowthEnv",
    "GrowthEnvConfig",
    "HiddenFactor",
    "Instance",
    "InstanceError",
    "InvalidActionError",
    "ObservationLayout",
    "RecordEpisode",
    "ReplayReport",
    "RewardContext",
    "RewardMode",
    "RewardTerms",
    "Split",
    "TaskData",
    "TaskFamily",
    "TaskRegistrationError",
    "TaskSpec",
    "get_family",
    "get_task",
    "register_envs",
    "register_family",
    "register_task",
    "task_for_id",
]
