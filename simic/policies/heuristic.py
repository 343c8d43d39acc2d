"""The heuristic baseline: a hand-written controller and its thresholds (:class:`HeuristicConfig`).

It grows early and on plateaus, keeps seeds whose counterfactual contribution is clearly
positive, and prunes the rest; :class:`HeuristicPolicy` says how, in order of priority.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import gymnasium as gym
import numpy as np

from envs.actions import ActionKind
from envs.observation import ObservationView
from kasmina import SeedStage, UnknownChoiceError
from kasmina.validation import reject_unknown, require_int, require_number
from simic.policies.base import MaskedPolicy, PolicyError
from simic.policies.costs import BlueprintCosts
from simic.policies.registry import register_policy


class SlotOrder(str, Enum):
    """Which DORMANT slot the heuristic grows into first."""

    LAST_FIRST = "last_first"  # deeper slots first (wider features on CNN hosts)
    FIRST_FIRST = "first_first"


@dataclass(frozen=True)
class HeuristicConfig:
    """Thresholds of :class:`HeuristicPolicy`.

    Budget fractions compare with the ``budget_used`` feature; contributions are on the
    observation's scale, 5 x (val accuracy with the seed - without it), so 0.05 is 1 point.
    The defaults were tuned on seeds 0-19 of ``simic/Grow-MNIST1D-v0`` (``benchmarks/
    baselines.py`` reports on others). Measured there: growing at once pays more than growing
    on plateaus (accuracy still climbs at the end of the budget, so plateaus are rare); two
    seeds (one per slot) beat one in accuracy and in return; the largest seed within twice
    the host's size beats the largest outright (whose rent eats the gain); and a HOLDING
    seed's contribution keeps rising for a few steps, so pruning at once loses seeds that
    would have paid.

    Attributes:
        base_seeds: Seeds grown right away and kept up, plateau or not: while fewer seeds are
            live or fossilized, a free slot gets one (a pruned seed is replaced).
        warmup: Budget fraction before a plateau may trigger more growth.
        plateau: ``val_accuracy_delta3`` (10 x the 3-step change) below which accuracy has
            plateaued and another seed is germinated (-1: never).
        grow_until: Budget fraction after which nothing is germinated (a seed needs about five
            steps to reach HOLDING with the default lifecycle).
        max_growing: Seeds allowed in TRAINING / BLENDING (not yet judged) at once.
        fossilize_above: A HOLDING seed contributing more than this is fossilized.
        prune_at_or_below: A HOLDING seed contributing this or less is pruned once it has
            had ``holding_patience`` to come up.
        holding_patience: Budget fraction a HOLDING seed is given before a low contribution
            gets it pruned: the counterfactual contribution of a useful seed keeps growing for a
            few steps after it is fully blended in, as the host adapts to it.
        early_prune_below: A TRAINING / BLENDING seed contributing less than this is pruned as
            soon as the mask allows (a fresh seed measured fully blended in looks bad at first,
            so only a clearly harmful one goes early).
        failure_memory: Budget fraction for which a blueprint pruned from a slot is skipped
            there (the rotation moves on to the next blueprint).
        max_seed_ratio: Default rotation: the blueprints whose parameters at the slot's width
            are at most this times the host's, largest first (the rent grows with the size).
        blueprints: An explicit rotation instead (names from the environment's set).
        slot_order: Which DORMANT slot to grow into first.
    """

    base_seeds: int = 2
    warmup: float = 0.2
    plateau: float = 0.1
    grow_until: float = 0.6
    max_growing: int = 2
    fossilize_above: float = 0.05
    prune_at_or_below: float = 0.0
    holding_patience: float = 0.12
    early_prune_below: float = -0.5
    failure_memory: float = 0.5
    max_seed_ratio: float = 2.0
    blueprints: tuple[str, ...] | None = None
    slot_order: SlotOrder = SlotOrder.LAST_FIRST

    def __post_init__(self) -> None:
        for name in ("warmup", "grow_until", "failure_memory", "holding_patience"):
            require_number(
                f"heuristic {name}", getattr(self, name), low=0.0, high=1.0, error=PolicyError
            )
        for name in ("plateau", "fossilize_above", "prune_at_or_below", "early_prune_below"):
            require_number(
                f"heuristic {name}", getattr(self, name), low=-1.0, high=1.0, error=PolicyError
            )
        for name in ("base_seeds", "max_growing"):
            require_int(f"heuristic {name}", getattr(self, name), 0, PolicyError)
        require_number(
            "heuristic max_seed_ratio",
            self.max_seed_ratio,
            low=0.0,
            low_open=True,
            error=PolicyError,
        )
        if self.prune_at_or_below >= self.fossilize_above:
            raise PolicyError(
                "heuristic prune_at_or_below must be below fossilize_above, got "
                f"{self.prune_at_or_below} and {self.fossilize_above}"
            )
        if self.blueprints is not None:
            if isinstance(self.blueprints, str) or not self.blueprints:
                raise PolicyError(
                    f"heuristic blueprints must be a non-empty list of names, got "
                    f"{self.blueprints!r}"
                )
            object.__setattr__(self, "blueprints", tuple(self.blueprints))
        object.__setattr__(self, "slot_order", _slot_order(self.slot_order))

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> HeuristicConfig:
        """The defaults overlaid with ``kwargs``; unknown names raise with suggestions."""
        reject_unknown("HeuristicPolicy", kwargs, [f.name for f in dataclasses.fields(cls)])
        return cls(**kwargs)


def _slot_order(value: SlotOrder | str) -> SlotOrder:
    try:
        return SlotOrder(value)
    except ValueError:
        raise UnknownChoiceError("slot order", value, [o.value for o in SlotOrder]) from None


_GROWING = (SeedStage.TRAINING, SeedStage.BLENDING)
_GONE = (SeedStage.PRUNED, SeedStage.EMBARGOED, SeedStage.DORMANT)


@register_policy("heuristic")
class HeuristicPolicy(MaskedPolicy):
    """A hand-written controller: grow early and on plateaus, keep what pays, prune the rest.

    Each step, in this order of priority (one action per step):

    1. prune a seed that does not pay: a HOLDING seed whose counterfactual contribution is at
       or below ``prune_at_or_below``, or an earlier one below ``early_prune_below`` (when the
       mask allows pruning it);
    2. fossilize a HOLDING seed contributing more than ``fossilize_above`` (one in between
       stays HOLDING, watched, until it crosses a threshold);
    3. germinate into the first DORMANT slot of ``slot_order`` while fewer than ``base_seeds``
       seeds are live or fossilized, or on a plateau of validation accuracy after ``warmup``,
       but never after ``grow_until`` nor with ``max_growing`` seeds still unjudged. The
       blueprint is the slot's next in its rotation that was not pruned there within
       ``failure_memory``.

    Its memory within an episode is which blueprint each live seed is and which were pruned
    where and when; everything else comes from the observation. See :class:`HeuristicConfig`
    for the thresholds, which are passed as keyword arguments.
    """

    def __init__(self, env: gym.Env, **thresholds: Any) -> None:
        super().__init__(env)
        self.config = HeuristicConfig.from_kwargs(thresholds)
        self.env = env
        self._rotations(BlueprintCosts.of(env))  # bad blueprint names fail at construction
        first_first = self.config.slot_order is SlotOrder.FIRST_FIRST
        self.slot_preference = self.slots if first_first else tuple(reversed(self.slots))
        self.reset()

    @property
    def rotation(self) -> dict[str, tuple[str, ...]]:
        """Per slot, the blueprints to try in order, for the current host: on a task family the
        host's size (and so what is affordable) changes with the episode's instance."""
        return self._rotations(BlueprintCosts.of(self.env))

    def _rotations(self, costs: BlueprintCosts) -> dict[str, tuple[str, ...]]:
        explicit = self.config.blueprints
        if explicit is None:
            return {s: costs.affordable(s, self.config.max_seed_ratio) for s in self.slots}
        for name in explicit:
            if name not in self.codec.blueprints:
                raise UnknownChoiceError(
                    "blueprint", name, self.codec.blueprints, context="in this environment's set"
                )
        return {s: tuple(b for b in explicit if b in costs.params[s]) for s in self.slots}

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._live: dict[str, str] = {}  # slot -> blueprint of the live seed seen last step
        self._failed: dict[tuple[str, str], float] = {}  # (slot, blueprint) -> budget_used

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        view = self.read(observation)
        self._remember(view)
        return self.first_valid([*self._judgements(view), *self._growth(view)], action_masks)

    def _remember(self, view: ObservationView) -> None:
        # Read from the stages rather than from our own actions, so a seed the environment
        # pruned itself (out of memory) counts as a failure too.
        for slot, s in view.slots.items():
            if s.stage.is_live and s.blueprint is not None:
                self._live[slot] = s.blueprint
            elif slot in self._live and s.stage in _GONE:
                self._failed[(slot, self._live.pop(slot))] = view.budget_used
            elif s.stage is SeedStage.FOSSILIZED:
                self._live.pop(slot, None)

    def _judgements(self, view: ObservationView) -> list[int]:
        """Prunes of seeds that do not pay, then fossilizations of those that clearly do."""
        cfg, prune, keep = self.config, [], []
        for slot, s in view.slots.items():
            c = s.contribution
            if not s.stage.is_live or c is None:
                continue
            if s.stage is SeedStage.HOLDING and c > cfg.fossilize_above:
                keep.append(self.action(ActionKind.FOSSILIZE, slot))
            elif s.stage is SeedStage.HOLDING and c <= cfg.prune_at_or_below:
                if s.steps_in_stage >= cfg.holding_patience:
                    prune.append(self.action(ActionKind.PRUNE, slot))
            elif s.stage in _GROWING and c < cfg.early_prune_below:
                prune.append(self.action(ActionKind.PRUNE, slot))
        return prune + keep

    def _growth(self, view: ObservationView) -> list[int]:
        if not self._wants_growth(view):
            return []
        stages = {slot: s.stage for slot, s in view.slots.items()}
        return [
            self.action(ActionKind.GERMINATE, slot, blueprint)
            for slot in self.slot_preference
            if stages[slot] is SeedStage.DORMANT
            and (blueprint := self._next_blueprint(slot, view.budget_used)) is not None
        ]

    def _wants_growth(self, view: ObservationView) -> bool:
        cfg = self.config
        growing = sum(s.stage in _GROWING for s in view.slots.values())
        if view.budget_used >= cfg.grow_until or growing >= cfg.max_growing:
            return False
        kept = sum(s.stage.is_live or s.stage is SeedStage.FOSSILIZED for s in view.slots.values())
        if kept < cfg.base_seeds:
            return True
        delta3 = view.val_accuracy_delta3
        return view.budget_used >= cfg.warmup and delta3 is not None and delta3 < cfg.plateau

    def _next_blueprint(self, slot: str, budget_used: float) -> str | None:
        for blueprint in self.rotation[slot]:
            failed_at = self._failed.get((slot, blueprint))
            if failed_at is None or budget_used - failed_at >= self.config.failure_memory:
                return blueprint
        return None
