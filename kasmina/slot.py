"""A seed slot: one injection point of a host, and the lifecycle of the seed it holds."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from kasmina.blueprints.base import SeedModule
from kasmina.blueprints.registry import Topology
from kasmina.errors import IllegalTransitionError, KasminaError
from kasmina.lifecycle import TRANSITIONS, LifecycleConfig, SeedStage, StageChange


class SeedSlot(nn.Module):
    """One injection point: it holds at most one seed and routes the host's features through it.

    What ``forward(h)`` returns depends on the stage:

    ========================  ================================================================
    DORMANT, GERMINATED,      ``h`` (nothing is wired in yet, or nothing is left)
    PRUNED, EMBARGOED
    TRAINING (incubator)      ``h + (s - s.detach())`` with ``s = seed(h.detach())``: the value
                              is exactly ``h`` and the host's gradients are exactly those of the
                              bare host, while the seed still receives the task gradient
                              (straight-through)
    BLENDING, HOLDING         ``lerp(h, seed(h), alpha)``; while BLENDING, alpha steps through
                              ``schedule(k / (n + 1))``, k = 1..n, n = ``blending_ticks``;
                              HOLDING has alpha 1
    FOSSILIZED                ``seed(h)``: the seed is part of the host
    ========================  ================================================================

    ``alpha_override`` (set by :meth:`MorphogeneticModel.counterfactual`) replaces alpha for a
    counterfactual pass: 0 switches the seed off whatever its stage, and a TRAINING seed with an
    override is blended in as if it had left the incubator (``lerp(h, seed(h), override)``).

    Args:
        slot_id: The host's name for this injection point.
        width: Feature width there (the blueprint's ``dim``).
        topology: The host's topology.
        lifecycle: Timings of the automatic transitions.
    """

    def __init__(
        self, slot_id: str, width: int, topology: Topology, lifecycle: LifecycleConfig
    ) -> None:
        super().__init__()
        self.slot_id, self.width, self.topology = slot_id, width, topology
        self.lifecycle = lifecycle
        self.stage = SeedStage.DORMANT
        self.seed: SeedModule | None = None
        self.blueprint: str | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.alpha = 0.0
        self.alpha_override: float | None = None
        self.ticks_in_stage = 0
        self.checkpoint_pinned = False
        # What the seed was germinated with (the caller's keywords, not the host's automatic
        # ones): enough to rebuild the same module when a saved model is restored.
        self.seed_kwargs: dict[str, object] = {}

    def extra_repr(self) -> str:
        return (
            f"{self.slot_id!r}, width={self.width}, stage={self.stage}, blueprint={self.blueprint}"
        )

    def transition(self, new: SeedStage) -> StageChange:
        """Move to ``new`` if the transition table allows it, else raise."""
        if new not in TRANSITIONS[self.stage]:
            raise IllegalTransitionError(
                self.slot_id,
                self.stage,
                new,
                sorted(TRANSITIONS[self.stage], key=lambda s: s.value),
            )
        change = StageChange(self.slot_id, self.stage, new, self.blueprint)
        self.stage, self.ticks_in_stage = new, 0
        self.alpha = self._entry_alpha(new)
        return change

    def _entry_alpha(self, stage: SeedStage) -> float:
        if stage is SeedStage.BLENDING:
            return self._blend_alpha(0)
        return 1.0 if stage in (SeedStage.HOLDING, SeedStage.FOSSILIZED) else 0.0

    def _blend_alpha(self, ticks: int) -> float:
        # n blending ticks take alpha through n evenly spaced values strictly between 0
        # (TRAINING) and 1 (HOLDING): an alpha of 0 would train the seed on a zero gradient.
        return self.lifecycle.schedule((ticks + 1) / (self.lifecycle.blending_ticks + 1))

    def attach(
        self,
        blueprint: str,
        seed: SeedModule,
        optimizer: torch.optim.Optimizer | None,
        pinned: bool,
        kwargs: Mapping[str, object] | None = None,
    ) -> StageChange:
        """DORMANT -> GERMINATED with ``seed`` (built with ``kwargs``) and its own optimizer."""
        if SeedStage.GERMINATED in TRANSITIONS[self.stage]:
            self.blueprint = blueprint
        change = self.transition(SeedStage.GERMINATED)
        self.seed, self.optimizer = seed, optimizer
        self.checkpoint_pinned = pinned
        self.seed_kwargs = dict(kwargs or {})
        return change

    def release(self) -> None:
        """Drop the seed module and its optimizer (after pruning)."""
        self.seed, self.optimizer, self.checkpoint_pinned = None, None, False
        self.seed_kwargs = {}

    def restore_state(
        self,
        stage: SeedStage,
        blueprint: str | None,
        seed: SeedModule | None,
        optimizer: torch.optim.Optimizer | None,
        *,
        alpha: float,
        ticks_in_stage: int,
        seed_kwargs: Mapping[str, object],
    ) -> None:
        """Put a DORMANT slot straight into a recorded state (see ``restore_seeds``).

        This bypasses :meth:`transition` on purpose: rebuilding a saved model is reconstruction,
        not a lifecycle event, and a recorded stage may lie several transitions (and ticks)
        away from DORMANT.
        """
        if self.stage is not SeedStage.DORMANT or self.seed is not None:
            raise KasminaError(
                f"slot {self.slot_id!r} is {self.stage}, not an empty DORMANT slot: "
                "a recorded state can only be restored into a fresh slot"
            )
        self.stage, self.blueprint, self.seed, self.optimizer = stage, blueprint, seed, optimizer
        self.alpha, self.ticks_in_stage = float(alpha), int(ticks_in_stage)
        self.seed_kwargs = dict(seed_kwargs)
        self.checkpoint_pinned = bool(self.seed_kwargs.get("checkpoint"))

    def tick(self) -> StageChange | None:
        """Advance the automatic part of the lifecycle by one tick."""
        self.ticks_in_stage += 1
        ticks, cfg = self.ticks_in_stage, self.lifecycle
        if self.stage is SeedStage.GERMINATED:
            return self.transition(SeedStage.TRAINING)
        if self.stage is SeedStage.TRAINING and ticks >= cfg.training_ticks:
            return self.transition(SeedStage.BLENDING)
        if self.stage is SeedStage.BLENDING:
            if ticks >= cfg.blending_ticks:
                return self.transition(SeedStage.HOLDING)
            self.alpha = self._blend_alpha(ticks)
            return None
        if self.stage is SeedStage.PRUNED:
            return self.transition(SeedStage.EMBARGOED)
        if self.stage is SeedStage.EMBARGOED and ticks >= cfg.embargo_ticks:
            change = self.transition(SeedStage.DORMANT)
            self.blueprint = None
            return change
        return None

    def set_checkpointing(self, enabled: bool) -> None:
        """Apply the governor's decision (a pinned ``checkpoint=True`` always stays on)."""
        seed = self.seed
        if seed is not None and seed.checkpointable:
            wanted = enabled or self.checkpoint_pinned
            if seed.use_checkpoint != wanted:  # runs every training batch: skip no-op writes
                seed.use_checkpoint = wanted

    def runs_seed(self, override: float | None) -> bool:
        """Whether the slot's output under alpha ``override`` involves its seed (else it is h)."""
        return self.seed is not None and self.stage is not SeedStage.GERMINATED and override != 0.0

    def seed_input(self, h: Tensor, override: float | None) -> Tensor:
        """What the seed runs on: ``h``, detached while it incubates (TRAINING, no override),
        so the host's loss trains the seed without the seed's gradient reaching the host."""
        return h.detach() if self._incubating(override) else h

    def _incubating(self, override: float | None) -> bool:
        return self.stage is SeedStage.TRAINING and override is None

    def mix(self, h: Tensor, s: Tensor, override: float | None) -> Tensor:
        """The slot's output from its input ``h`` and the seed's output ``s`` on it.

        Split from :meth:`forward` so that a caller who already has ``s`` (a counterfactual pass
        sharing the plain pass's features) gets the same output without running the seed again.
        """
        if self._incubating(override):
            return h + (s - s.detach())
        alpha = self.alpha if override is None else override
        if self.stage is SeedStage.FOSSILIZED and alpha == 1.0:
            return s
        return torch.lerp(h, s, alpha)

    def forward(self, h: Tensor) -> Tensor:
        override = self.alpha_override
        if not self.runs_seed(override):
            return h
        assert self.seed is not None  # runs_seed checked it
        return self.mix(h, self.seed(self.seed_input(h, override)), override)
