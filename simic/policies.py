"""Policies for the growth environments: baselines, a loaded PPO agent, and an episode runner.

A policy decides from the observation vector (read by feature name through the environment's
:class:`~envs.ObservationLayout`) and the action mask, plus whatever it remembers within the
episode. It sees the environment only at construction, to learn its layout, action codec, slots
and blueprints, never its model: the same policy works on a vector environment's observations.

Baselines (:data:`POLICY_NAMES`):

========== ==============================================================================
nogrow     always WAIT: the static host trained for the whole budget
random     uniform over the valid actions, from its own seeded generator
growall    "just start with a bigger network": the largest blueprint into every slot at
           once, every seed fossilized, nothing pruned
heuristic  a hand-written controller: grows early and on plateaus, keeps seeds whose
           counterfactual contribution is clearly positive, prunes the rest
========== ==============================================================================

:class:`PPOPolicy` wraps a ``MaskablePPO`` saved by sb3-contrib; :func:`make_policy` builds any
of them from a name or a path; :func:`run_episode` plays one seeded episode.

Every policy returns only valid actions: :meth:`MaskedPolicy.predict` replaces a masked choice
by WAIT (always valid) and counts it in ``masked_fallbacks``.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

import envs
from envs.actions import ActionKind, GrowthAction
from envs.observation import UNKNOWN
from kasmina import (
    BlueprintRegistry,
    KasminaError,
    SeedStage,
    UnknownChoiceError,
    UserError,
    seeded_init,
)
from kasmina.errors import UnexpectedKeywordError
from kasmina.validation import require_int, require_number
from simic import provenance

POLICY_NAMES = ("heuristic", "random", "nogrow", "growall")
"""The built-in policies :func:`make_policy` knows by name."""

WAIT = 0
"""The WAIT action; the environment's mask always allows it."""


# ------------------------------------------------------------------------------------ errors
class PolicyError(UserError, ValueError):
    """A policy that cannot be built or used: a bad file, mismatched spaces, a bad threshold."""


class PolicyFileNotFoundError(PolicyError, FileNotFoundError):
    """A policy path that does not exist."""


# ------------------------------------------------------------------------------------ protocol
@runtime_checkable
class Policy(Protocol):
    """What :func:`run_episode` (and anything else that plays the growth game) needs."""

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Forget the last episode; called at every episode start (random policies reseed)."""
        ...

    def predict(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        """The action to take given one observation vector and the current action mask."""
        ...


# ------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class SlotView:
    """One slot as the observation shows it.

    Attributes:
        slot: The slot id.
        stage: Its lifecycle stage (from the stage one-hot).
        blueprint: The blueprint of its seed (also while PRUNED / EMBARGOED), or ``None``.
        contribution: 5 x (val accuracy with the seed - without it), or ``None`` if unmeasured.
        steps_in_stage: Lifecycle ticks in the current stage / budget.
    """

    slot: str
    stage: SeedStage
    blueprint: str | None
    contribution: float | None
    steps_in_stage: float


@dataclass(frozen=True)
class ObservationView:
    """The features the built-in policies read, decoded from one observation vector."""

    budget_used: float
    val_accuracy_delta3: float | None
    slots: tuple[SlotView, ...]

    def slot(self, slot_id: str) -> SlotView:
        return next(s for s in self.slots if s.slot == slot_id)


def _known(value: float) -> float | None:
    # Sentinels are exactly -2; anything within half a unit of it can only be the sentinel.
    return None if value <= UNKNOWN + 0.5 else float(value)


class ObservationReader:
    """Reads an observation vector by feature name (indices resolved once, at construction)."""

    def __init__(self, layout: envs.ObservationLayout) -> None:
        idx = layout.index
        self.size = len(layout)
        self.slots, self.blueprints = layout.slots, layout.blueprints
        self._budget, self._delta3 = idx["budget_used"], idx["val_accuracy_delta3"]
        self._stages = {s: [idx[f"{s}.stage.{st.name}"] for st in SeedStage] for s in self.slots}
        self._kinds = {s: [idx[f"{s}.blueprint.{b}"] for b in self.blueprints] for s in self.slots}
        self._contribution = {s: idx[f"{s}.contribution"] for s in self.slots}
        self._in_stage = {s: idx[f"{s}.steps_in_stage"] for s in self.slots}

    def read(self, observation: np.ndarray) -> ObservationView:
        obs = observation
        return ObservationView(
            budget_used=float(obs[self._budget]),
            val_accuracy_delta3=_known(obs[self._delta3]),
            slots=tuple(self._slot(obs, s) for s in self.slots),
        )

    def _slot(self, obs: np.ndarray, slot: str) -> SlotView:
        stage = list(SeedStage)[int(np.argmax(obs[self._stages[slot]]))]
        kinds = obs[self._kinds[slot]]
        blueprint = self.blueprints[int(np.argmax(kinds))] if kinds.max() > 0.5 else None
        contribution = _known(obs[self._contribution[slot]])
        return SlotView(slot, stage, blueprint, contribution, float(obs[self._in_stage[slot]]))


# ------------------------------------------------------------------------------------ base
def growth_env(env: gym.Env) -> envs.GrowthEnv:
    """The :class:`envs.GrowthEnv` under ``env``'s wrappers, or a :class:`PolicyError`."""
    base = env.unwrapped
    if not isinstance(base, envs.GrowthEnv):
        raise PolicyError(f"policies need a GrowthEnv (simic/Grow-*), got {type(base).__name__}")
    return base


class MaskedPolicy(ABC):
    """Base of the built-in policies: shape checks, action helpers and the mask guarantee.

    Subclasses implement :meth:`choose`; :meth:`predict` returns its choice only if the mask
    allows it and otherwise WAIT, counting the fallback in ``masked_fallbacks`` (a policy that
    needs the fallback has a bug, but an invalid action would cost the agent a penalty).
    """

    name: str = "masked"

    def __init__(self, env: gym.Env) -> None:
        base = growth_env(env)
        self.codec = base.codec
        self.slots = base.slots
        self.reader = ObservationReader(base.layout)
        self.masked_fallbacks = 0
        self.episode_seed: int | None = None

    def reset(self, seed: int | None = None) -> None:
        """Start an episode (a stateless policy only notes the seed)."""
        self.episode_seed = seed

    def predict(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        obs = np.asarray(observation, dtype=np.float32)
        mask = np.asarray(action_masks, dtype=bool)
        if obs.shape != (self.reader.size,) or mask.shape != (self.codec.n,):
            raise PolicyError(
                f"{self.name}: expected one observation of shape ({self.reader.size},) and a "
                f"mask of shape ({self.codec.n},), got {obs.shape} and {mask.shape}"
            )
        action = int(self.choose(obs, mask))
        if 0 <= action < self.codec.n and mask[action]:
            return action
        self.masked_fallbacks += 1
        return WAIT

    @abstractmethod
    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        """The preferred action (it may be masked: :meth:`predict` guards the result)."""

    def action(self, kind: ActionKind, slot: str, blueprint: str | None = None) -> int:
        """The integer of ``kind`` on ``slot`` (and ``blueprint`` for GERMINATE)."""
        return self.codec.encode(GrowthAction(kind, slot, blueprint))

    @staticmethod
    def first_valid(candidates: Iterable[int], action_masks: np.ndarray) -> int:
        """The first candidate the mask allows, or WAIT."""
        return next((a for a in candidates if action_masks[a]), WAIT)


# ------------------------------------------------------------------------------------ baselines
class NoGrowPolicy(MaskedPolicy):
    """Always WAIT: the static host."""

    name = "nogrow"

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        return WAIT


class RandomPolicy(MaskedPolicy):
    """Uniform over the valid actions, from its own generator (reseeded by :meth:`reset`)."""

    name = "random"

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._rng = np.random.default_rng(seed)

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        return int(self._rng.choice(np.flatnonzero(action_masks)))


@dataclass(frozen=True)
class BlueprintCosts:
    """Exact parameter counts of an environment's blueprints at each of its slots.

    Attributes:
        host_params: Parameters of the task's bare host.
        params: ``{slot: {blueprint: parameters}}`` for the blueprints buildable at the slot's
            width, in the environment's blueprint order.
    """

    host_params: int
    params: Mapping[str, Mapping[str, int]]

    @classmethod
    def of(cls, env: gym.Env) -> BlueprintCosts:
        """Counted with the registry on the task's own host (built under a fixed seed, so no
        RNG is touched) with the keywords the host gives its seeds (``spatial_dims`` for CNNs).
        """
        base = growth_env(env)
        with seeded_init(0):
            host = base.task.host_factory()
        widths, host_kwargs = host.injection_points(), host.blueprint_kwargs()
        params: dict[str, dict[str, int]] = {}
        for slot in base.slots:
            params[slot] = {}
            for name in base.codec.blueprints:
                spec = BlueprintRegistry.spec(base.task.topology, name)
                kwargs = {k: v for k, v in host_kwargs.items() if k in spec.keywords}
                try:
                    params[slot][name] = spec.param_count(widths[slot], **kwargs)
                except KasminaError:  # not buildable at this width (heads must divide it, ...)
                    continue
        return cls(sum(p.numel() for p in host.parameters()), params)

    def largest(self, slot: str) -> str | None:
        """The blueprint with the most parameters at ``slot`` (``None`` if none fits)."""
        counts = self.params[slot]
        return max(counts, key=counts.__getitem__) if counts else None

    def affordable(self, slot: str, max_ratio: float) -> tuple[str, ...]:
        """Blueprints of at most ``max_ratio`` x the host's parameters, largest first.

        If none is that small, the smallest alone (growing something beats never growing).
        """
        counts = self.params[slot]
        by_size = sorted(counts, key=lambda b: (-counts[b], b))
        cheap = tuple(b for b in by_size if counts[b] <= max_ratio * self.host_params)
        return cheap or tuple(by_size[-1:])


class GrowAllPolicy(MaskedPolicy):
    """Just start with a bigger network: the largest blueprint in every slot, kept forever.

    Each step it fossilizes a HOLDING seed if there is one, else germinates the largest
    blueprint (by real parameter count at the slot's width) into the first DORMANT slot, so the
    slots fill one per step from the start. It never prunes.
    """

    name = "growall"

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        costs = BlueprintCosts.of(env)
        self.largest = {s: b for s in self.slots if (b := costs.largest(s)) is not None}

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        view = self.reader.read(observation)
        fossilize = [
            self.action(ActionKind.FOSSILIZE, s.slot)
            for s in view.slots
            if s.stage is SeedStage.HOLDING
        ]
        germinate = [
            self.action(ActionKind.GERMINATE, s.slot, self.largest[s.slot])
            for s in view.slots
            if s.stage is SeedStage.DORMANT and s.slot in self.largest
        ]
        return self.first_valid([*fossilize, *germinate], action_masks)


# ------------------------------------------------------------------------------------ heuristic
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
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = set(kwargs) - set(names)
        if unknown:
            raise UnexpectedKeywordError("HeuristicPolicy", unknown, names)
        return cls(**kwargs)


def _slot_order(value: SlotOrder | str) -> SlotOrder:
    try:
        return SlotOrder(value)
    except ValueError:
        raise UnknownChoiceError("slot order", value, [o.value for o in SlotOrder]) from None


_GROWING = (SeedStage.TRAINING, SeedStage.BLENDING)
_GONE = (SeedStage.PRUNED, SeedStage.EMBARGOED, SeedStage.DORMANT)


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

    name = "heuristic"

    def __init__(self, env: gym.Env, **thresholds: Any) -> None:
        super().__init__(env)
        self.config = HeuristicConfig.from_kwargs(thresholds)
        self.rotation = self._rotations(BlueprintCosts.of(env))
        first_first = self.config.slot_order is SlotOrder.FIRST_FIRST
        self.slot_preference = self.slots if first_first else tuple(reversed(self.slots))
        self.reset()

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
        view = self.reader.read(observation)
        self._remember(view)
        return self.first_valid([*self._judgements(view), *self._growth(view)], action_masks)

    def _remember(self, view: ObservationView) -> None:
        # Read from the stages rather than from our own actions, so a seed the environment
        # pruned itself (out of memory) counts as a failure too.
        for s in view.slots:
            if s.stage.is_live and s.blueprint is not None:
                self._live[s.slot] = s.blueprint
            elif s.slot in self._live and s.stage in _GONE:
                self._failed[(s.slot, self._live.pop(s.slot))] = view.budget_used
            elif s.stage is SeedStage.FOSSILIZED:
                self._live.pop(s.slot, None)

    def _judgements(self, view: ObservationView) -> list[int]:
        """Prunes of seeds that do not pay, then fossilizations of those that clearly do."""
        cfg, prune, keep = self.config, [], []
        for s in view.slots:
            c = s.contribution
            if not s.stage.is_live or c is None:
                continue
            if s.stage is SeedStage.HOLDING and c > cfg.fossilize_above:
                keep.append(self.action(ActionKind.FOSSILIZE, s.slot))
            elif s.stage is SeedStage.HOLDING and c <= cfg.prune_at_or_below:
                if s.steps_in_stage >= cfg.holding_patience:
                    prune.append(self.action(ActionKind.PRUNE, s.slot))
            elif s.stage in _GROWING and c < cfg.early_prune_below:
                prune.append(self.action(ActionKind.PRUNE, s.slot))
        return prune + keep

    def _growth(self, view: ObservationView) -> list[int]:
        if not self._wants_growth(view):
            return []
        stages = {s.slot: s.stage for s in view.slots}
        return [
            self.action(ActionKind.GERMINATE, slot, blueprint)
            for slot in self.slot_preference
            if stages[slot] is SeedStage.DORMANT
            and (blueprint := self._next_blueprint(slot, view.budget_used)) is not None
        ]

    def _wants_growth(self, view: ObservationView) -> bool:
        cfg = self.config
        growing = sum(s.stage in _GROWING for s in view.slots)
        if view.budget_used >= cfg.grow_until or growing >= cfg.max_growing:
            return False
        kept = sum(s.stage.is_live or s.stage is SeedStage.FOSSILIZED for s in view.slots)
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


# ------------------------------------------------------------------------------------ PPO
class PPOPolicy(MaskedPolicy):
    """A ``sb3_contrib.MaskablePPO`` agent loaded from a ``.zip``, acting deterministically.

    Its observation and action spaces must be the environment's (the same task, slots and
    blueprint set), checked at load. The mask goes to the network, so a masked prediction
    would be a bug; it still falls back to WAIT and is counted in ``masked_fallbacks``.
    """

    def __init__(
        self, path: str | Path, env: gym.Env, device: str = "cpu", transfer: bool = False
    ) -> None:
        super().__init__(env)
        self.path = Path(path)
        self.name = f"ppo:{self.path.name}"
        self.model = load_maskable_ppo(self.path, device)
        if not transfer:
            _check_trained_env(self.model, env, self.path)
        _check_spaces(self.model, growth_env(env), self.path)

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        action, _ = self.model.predict(observation, action_masks=action_masks, deterministic=True)
        return int(np.asarray(action).item())


def load_maskable_ppo(path: Path, device: str = "cpu") -> Any:
    """``MaskablePPO.load(path)`` with errors that name the file and say what is wrong."""
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise PolicyFileNotFoundError(
            f"policy file {str(path)!r} {where}; give a built-in name "
            f"({', '.join(POLICY_NAMES)}) or the path of a .zip saved by MaskablePPO.save()"
        )
    from sb3_contrib import MaskablePPO  # here: importing sb3 costs seconds that names skip

    try:
        return MaskablePPO.load(path, device=device)
    except Exception as exc:  # sb3 surfaces a bad file as zip, pickle, key or torch errors
        raise PolicyError(
            f"cannot load a MaskablePPO policy from {str(path)!r} (not a file saved by "
            f"MaskablePPO.save(), or corrupt): {type(exc).__name__}: {exc}"
        ) from exc


def _check_trained_env(model: Any, env: gym.Env, path: Path) -> None:
    """Refuse a model trained on another environment (unless ``transfer`` opted in)."""
    trained = provenance.recorded(model)
    if trained is None:  # saved before signatures were recorded: only the spaces are checked
        return
    here = provenance.EnvSignature.of(env)
    differences = trained.differences(here)
    if differences:
        raise PolicyError(
            f"policy {str(path)!r} was trained on {trained.name()}, not {here.name()} "
            f"({', '.join(differences)} differ); to play it there anyway (a transfer "
            "experiment), pass --transfer"
        )


def _check_spaces(model: Any, env: envs.GrowthEnv, path: Path) -> None:
    for what, theirs, ours in (
        ("observation", model.observation_space, env.observation_space),
        ("action", model.action_space, env.action_space),
    ):
        if theirs != ours:
            raise PolicyError(
                f"policy {str(path)!r} was trained on another environment: its {what} space is "
                f"{theirs}, this environment's is {ours} (task, slots and blueprints must match)"
            )


# ------------------------------------------------------------------------------------ factory
_BUILT_IN: dict[str, type[MaskedPolicy]] = {
    "heuristic": HeuristicPolicy,
    "random": RandomPolicy,
    "nogrow": NoGrowPolicy,
    "growall": GrowAllPolicy,
}


def make_policy(
    spec: str | Path, env: gym.Env, *, device: str = "cpu", transfer: bool = False
) -> Policy:
    """The policy called ``spec`` (one of :data:`POLICY_NAMES`) or loaded from the path ``spec``.

    Raises:
        UnknownChoiceError: ``spec`` is neither a known name nor a path (with a suggestion).
        PolicyFileNotFoundError: the path does not exist.
        PolicyError: the file is not a MaskablePPO save, or was trained on other spaces, or
            (unless ``transfer``) on another environment.
    """
    if isinstance(spec, str) and spec in _BUILT_IN:
        return _BUILT_IN[spec](env)
    if _looks_like_path(spec):
        return PPOPolicy(spec, env, device=device, transfer=transfer)
    raise UnknownChoiceError(
        "policy", spec, POLICY_NAMES, context="(a name, or the path of a MaskablePPO .zip)"
    )


def _looks_like_path(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return True
    return spec.endswith(".zip") or "/" in spec or "\\" in spec or Path(spec).exists()


# ------------------------------------------------------------------------------------ episodes
@dataclass(frozen=True)
class EpisodeResult:
    """One played episode.

    Attributes:
        policy: The policy's name.
        seed: The seed the environment and the policy were reset with.
        actions: Every action taken, in order.
        rewards: Every reward received.
        return_: Their sum.
        test_accuracy: Final test accuracy (NaN if the episode was truncated by a wrapper).
        val_accuracies: Validation accuracy at reset, then after every step.
        param_growth: Final seed parameters / host parameters.
        params: Final parameters in total.
        seeds_germinated: Seeds germinated (from the final info).
        seeds_fossilized: Seeds fossilized.
        seeds_pruned: Seeds pruned (by the policy or by out-of-memory recovery).
        events: ``(step, action)`` for every valid action other than WAIT; ``step`` is the
            0-based index of the step it was taken at.
        diverged: The training loss stopped being finite.
    """

    policy: str
    seed: int
    actions: tuple[int, ...]
    rewards: tuple[float, ...]
    return_: float
    test_accuracy: float
    val_accuracies: tuple[float, ...]
    param_growth: float
    params: int
    seeds_germinated: int
    seeds_fossilized: int
    seeds_pruned: int
    events: tuple[tuple[int, str], ...]
    diverged: bool


def run_episode(env: gym.Env, policy: Policy, seed: int) -> EpisodeResult:
    """Play one episode of ``policy`` on ``env`` from ``env.reset(seed=seed)`` (deterministic).

    The policy is reset with the same seed and sees ``env.unwrapped.action_masks()`` each step.
    """
    masks = getattr(env.unwrapped, "action_masks", None)
    if masks is None:
        raise PolicyError(f"{type(env.unwrapped).__name__} has no action_masks(); use a GrowthEnv")
    observation, info = env.reset(seed=seed)
    policy.reset(seed)
    actions: list[int] = []
    rewards: list[float] = []
    vals = [float(info["val_accuracy"])]
    events: list[tuple[int, str]] = []
    while True:
        action = int(policy.predict(observation, masks()))
        observation, reward, terminated, truncated, info = env.step(action)
        if action != WAIT and not info["invalid_action"]:
            events.append((len(actions), str(info["action"])))
        actions.append(action)
        rewards.append(float(reward))
        vals.append(float(info["val_accuracy"]))
        if terminated or truncated:
            return _result(policy.name, seed, actions, rewards, vals, events, info)


def _result(
    name: str,
    seed: int,
    actions: Sequence[int],
    rewards: Sequence[float],
    vals: Sequence[float],
    events: Sequence[tuple[int, str]],
    info: Mapping[str, Any],
) -> EpisodeResult:
    return EpisodeResult(
        policy=name,
        seed=seed,
        actions=tuple(actions),
        rewards=tuple(rewards),
        return_=math.fsum(rewards),
        test_accuracy=float(info.get("test_accuracy", math.nan)),
        val_accuracies=tuple(vals),
        param_growth=float(info["param_growth"]),
        params=int(info["params"]),
        seeds_germinated=int(info["seeds_germinated"]),
        seeds_fossilized=int(info["seeds_fossilized"]),
        seeds_pruned=int(info["seeds_pruned"]),
        events=tuple(events),
        diverged=bool(info["diverged"]),
    )
