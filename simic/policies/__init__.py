"""Policies for the growth environments: the protocol, the built-in controllers and PPO loading.

========================= ====================================================================
module                    its one job
========================= ====================================================================
``policies.base``         the :class:`Policy` protocol, :class:`MaskedPolicy`, the errors
``policies.registry``     names -> classes; ``@register_policy("name")`` adds a controller
``policies.costs``        what each blueprint costs at each slot (:class:`BlueprintCosts`)
``policies.baselines``    random, nogrow, growall
``policies.heuristic``    the hand-written controller and :class:`HeuristicConfig`
``policies.ppo``          a saved ``MaskablePPO`` as a policy (:class:`PPOPolicy`)
``policies.factory``      :func:`make_policy`: a registered name or a model path -> a policy
``policies.episode``      :func:`run_episode`: one seeded episode -> :class:`EpisodeResult`
                          (the one episode loop; ``on_step`` sees every :class:`Step`)
========================= ====================================================================

Built-in names (:data:`POLICY_NAMES`, in registration order): ``heuristic``, ``random``,
``nogrow``, ``growall``. Everything below is importable from ``simic.policies`` itself.
"""

from simic.policies.base import (
    WAIT_INDEX,
    MaskedPolicy,
    Policy,
    PolicyError,
    PolicyFileNotFoundError,
    growth_env,
)
from simic.policies.costs import BlueprintCosts

# isort: off
# Importing a controller registers it, and the import order is the order of POLICY_NAMES.
from simic.policies.heuristic import HeuristicConfig, HeuristicPolicy, SlotOrder
from simic.policies.baselines import GrowAllPolicy, NoGrowPolicy, RandomPolicy
from simic.policies.tuned import BestSchedulePolicy, PerInstancePolicy, TunedHeuristicPolicy

# isort: on
from simic.policies.episode import EpisodeResult, Step, run_episode
from simic.policies.factory import make_policy
from simic.policies.ppo import PPOPolicy, load_maskable_ppo
from simic.policies.registry import POLICIES, PolicyRegistry, list_policies, register_policy
from simic.policies.schedule import Schedule, SchedulePolicy
from simic.policies.tuned import TunedTable

POLICY_NAMES: tuple[str, ...] = tuple(
    n for n in list_policies() if not issubclass(POLICIES.get(n), PerInstancePolicy)
)
"""The baselines every environment supports, in registration order (the default of
``simic evaluate``)."""

FAMILY_POLICY_NAMES: tuple[str, ...] = tuple(
    n for n in list_policies() if issubclass(POLICIES.get(n), PerInstancePolicy)
)
"""Baselines that know the instance in advance: they play task families only."""

__all__ = [
    "FAMILY_POLICY_NAMES",
    "POLICIES",
    "POLICY_NAMES",
    "WAIT_INDEX",
    "BestSchedulePolicy",
    "BlueprintCosts",
    "EpisodeResult",
    "GrowAllPolicy",
    "HeuristicConfig",
    "HeuristicPolicy",
    "MaskedPolicy",
    "NoGrowPolicy",
    "PPOPolicy",
    "PerInstancePolicy",
    "Policy",
    "PolicyError",
    "PolicyFileNotFoundError",
    "PolicyRegistry",
    "RandomPolicy",
    "Schedule",
    "SchedulePolicy",
    "SlotOrder",
    "Step",
    "TunedHeuristicPolicy",
    "TunedTable",
    "growth_env",
    "list_policies",
    "load_maskable_ppo",
    "make_policy",
    "register_policy",
    "run_episode",
]
