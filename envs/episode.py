"""One episode's state (:class:`Episode`) and what it reports: observation view, info, reward.

:class:`~envs.GrowthEnv` owns the spaces, the data and the step's order of work; the state that
one episode changes, and the pure views of it that the agent receives, live here, so that an
environment stepping several episodes at once can keep one :class:`Episode` each and report
them exactly as the single env does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.actions import ActionKind, GrowthAction
from envs.data import BatchStream
from envs.observation import ContextView, ObservationView, SlotView, squash
from envs.reward import RewardContext, RewardTerms, RewardTracker
from envs.stepping import TrainStats
from kasmina import MorphogeneticModel, ParamCounts, StageChange


@dataclass
class Episode:
    """Everything one episode of a :class:`~envs.GrowthEnv` changes; ``reset`` makes a new one.

    Attributes:
        model: The host and its seeds.
        batches: The episode's training-batch order.
        tracker: Accumulates the reward terms.
        params: Parameter counts after the last step.
        val_loss: Validation loss after the last step.
        val_history: Validation accuracy at reset, then after every step.
        best_val_acc: The best of ``val_history``.
        t: Steps taken.
        done: The episode has ended (``step`` needs a ``reset``).
        train: What the last step's training measured (``None`` before the first step).
        prev_train_loss: The training loss of the step before (for the loss delta).
        germinated_at: The step at which each slot's current seed was germinated.
        contributions: Counterfactual accuracy gain of each live seed, last measured.
        grad_ratios: Seed / host gradient norm of each live seed on the last batch.
        counts: Seeds germinated, fossilized and pruned so far.
    """

    model: MorphogeneticModel
    batches: BatchStream
    tracker: RewardTracker
    params: ParamCounts
    val_loss: float
    val_history: list[float]
    best_val_acc: float
    t: int = 0
    done: bool = False
    train: TrainStats | None = None
    prev_train_loss: float | None = None
    germinated_at: dict[str, int] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)
    grad_ratios: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"germinated": 0, "fossilized": 0, "pruned": 0}
    )

    @property
    def initial_val_acc(self) -> float:
        return self.val_history[0]

    def age(self, slot_id: str) -> int:
        """Steps since the slot's current seed was germinated (0 for a slot without one)."""
        return self.t - self.germinated_at.get(slot_id, self.t)

    def apply(self, action: GrowthAction) -> list[StageChange]:
        """Carry out a valid action on the model, counting it; WAIT changes nothing."""
        slot, model = action.slot, self.model
        if action.kind is ActionKind.GERMINATE:
            self.germinated_at[slot] = self.t  # type: ignore[index]
            self.counts["germinated"] += 1
            return [model.germinate(slot, action.blueprint)]  # type: ignore[arg-type]
        if action.kind is ActionKind.FOSSILIZE:
            self.counts["fossilized"] += 1
            return [model.fossilize(slot)]  # type: ignore[arg-type]
        if action.kind is ActionKind.PRUNE:
            self.counts["pruned"] += 1
            return [model.prune(slot)]  # type: ignore[arg-type]
        return []

    def reward_context(
        self, budget: int, previous: float, acc: float, invalid: bool, terminated: bool
    ) -> RewardContext:
        """What the reward of the step just taken is computed from."""
        assert self.train is not None
        return RewardContext(
            self.t,
            budget,
            self.initial_val_acc,
            previous,
            acc,
            self.params.growth_ratio,  # counted once per step, just before
            invalid,
            self.train.diverged,
            terminated,
        )

    def observation_view(
        self,
        budget: int,
        num_classes: int,
        blueprints: Sequence[str],
        context: ContextView | None,
    ) -> ObservationView:
        """The typed observation (``ObservationLayout.write`` turns it into the vector)."""
        scale = float(np.log(num_classes))
        history, train, governor = self.val_history, self.train, self.model.governor
        prev_loss = self.prev_train_loss
        return ObservationView(
            budget_used=self.t / budget,
            train_loss=None if train is None else train.loss / scale,
            val_loss=self.val_loss / scale,
            train_accuracy=None if train is None else train.accuracy,
            val_accuracy=history[-1],
            val_accuracy_delta=None if train is None else 10 * (history[-1] - history[-2]),
            val_accuracy_delta3=10 * (history[-1] - history[-4]) if len(history) >= 4 else None,
            train_loss_delta=(
                None if train is None or prev_loss is None else 5 * (train.loss - prev_loss) / scale
            ),
            best_val_accuracy=self.best_val_acc,
            param_growth=squash(self.params.growth_ratio),
            memory_pressure=governor.last_pressure,
            checkpointing=float(governor.checkpointing),
            slots={s: self.slot_view(s, budget, blueprints) for s in self.model.slots},
            context=context,
        )

    def slot_view(self, slot_id: str, budget: int, blueprints: Sequence[str]) -> SlotView:
        """One slot's part of the observation (``blueprints``: those the agent can choose)."""
        slot = self.model.slot(slot_id)
        live = slot.stage.is_live
        params = sum(p.numel() for p in slot.seed.parameters()) if slot.seed is not None else 0
        grad_ratio = self.grad_ratios.get(slot_id) if live else None
        return SlotView(
            stage=slot.stage,
            blueprint=slot.blueprint if slot.blueprint in blueprints else None,
            alpha=slot.alpha,
            steps_in_stage=slot.ticks_in_stage / budget,
            param_share=squash(params / self.params.host),
            contribution=5 * self.contributions[slot_id]
            if live and slot_id in self.contributions
            else None,
            grad_ratio=None if grad_ratio is None else squash(grad_ratio),
        )

    def info(
        self, action: GrowthAction, invalid: bool, changes: list[StageChange], terms: RewardTerms
    ) -> dict[str, Any]:
        """The step's ``info`` (the env adds ``test_accuracy`` on the final step)."""
        train, counts = self.train, self.params
        assert train is not None
        return {
            "step": self.t,
            "action": str(action),
            "invalid_action": invalid,
            "stage_changes": tuple(f"{c.slot_id}:{c.old.name}->{c.new.name}" for c in changes),
            "train_loss": train.loss,
            "train_accuracy": train.accuracy,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_history[-1],
            "param_growth": counts.growth_ratio,
            "params": counts.total,
            "reward_terms": terms,
            "diverged": train.diverged,
            "oom": train.oom,
            **{f"seeds_{k}": n for k, n in self.counts.items()},
        }
