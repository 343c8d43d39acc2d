"""kasmina: the growing network.

A host network (:class:`CNNHost`, :class:`TransformerHost`) declares injection points; a
:class:`MorphogeneticModel` puts a :class:`SeedSlot` at each. Blueprints from
:data:`BlueprintRegistry` are germinated into slots, train in isolation (incubator mode), blend in
with an alpha ramp and are then fossilized or pruned (:class:`SeedStage`). A
:class:`MemoryGovernor` switches activation checkpointing on under CUDA memory pressure and
retries out-of-memory steps. :mod:`kasmina.counterfactual` evaluates a model with seeds' alphas
overridden (and says which counterfactual measures a seed); :mod:`kasmina.description` is the
JSON format of ``describe_seeds`` / ``restore_seeds``. :func:`graft` turns any ``torch.nn.Module``
into a host, with slots after named submodules (:class:`GraftedHost`).

kasmina knows nothing of the environment (``envs``) or the controller (``simic``).
"""

from kasmina.blueprints import BlueprintRegistry, BlueprintSpec, Registry, SeedModule, Topology
from kasmina.errors import (
    GrowthOOMError,
    IllegalTransitionError,
    InvalidValueError,
    KasminaError,
    UnexpectedKeywordError,
    UnknownChoiceError,
    UserError,
)
from kasmina.graft import GraftedHost, GraftError, graft
from kasmina.hosts import CNNHost, HostNetwork, TransformerHost
from kasmina.lifecycle import TRANSITIONS, AlphaSchedule, LifecycleConfig, SeedStage, StageChange
from kasmina.memory import (
    CheckpointEvent,
    MemoryGovernor,
    SwitchReason,
    device_memory_pressure,
)
from kasmina.model import MorphogeneticModel, ParamCounts, StepResult
from kasmina.optim import OptimizerSpec
from kasmina.rng import seeded_init
from kasmina.slot import SeedSlot

__all__ = [
    "TRANSITIONS",
    "AlphaSchedule",
    "BlueprintRegistry",
    "BlueprintSpec",
    "CNNHost",
    "CheckpointEvent",
    "GraftError",
    "GraftedHost",
    "GrowthOOMError",
    "HostNetwork",
    "IllegalTransitionError",
    "InvalidValueError",
    "KasminaError",
    "LifecycleConfig",
    "MemoryGovernor",
    "MorphogeneticModel",
    "OptimizerSpec",
    "ParamCounts",
    "Registry",
    "SeedModule",
    "SeedSlot",
    "SeedStage",
    "StageChange",
    "StepResult",
    "SwitchReason",
    "Topology",
    "TransformerHost",
    "UnexpectedKeywordError",
    "UnknownChoiceError",
    "UserError",
    "device_memory_pressure",
    "graft",
    "seeded_init",
]
