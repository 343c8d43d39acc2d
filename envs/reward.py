"""Rewards: what growth bought (validation accuracy) minus what it cost (parameter rent).

Dense (default), per step ``t`` of a budget of ``T`` steps::

    r_t = (acc_t - acc_{t-1}) - lambda * (seed params / host params)_t / T
          - invalid_action_penalty * [action was invalid]

so an episode's return telescopes to ``acc_T - acc_0 - lambda * mean_t(growth ratio)`` minus
any invalid-action penalties: no loop (germinate, hurt, prune, repeat) can farm it. ``acc`` is
*validation* accuracy; the test split is only reported. A step whose training loss is not finite
ends the episode with ``-divergence_penalty`` instead of the accuracy term.

``"terminal"`` delivers the same total only on the final step (0 before). A callable receives a
:class:`RewardContext` and returns the reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class RewardMode(str, Enum):
    DENSE = "dense"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class RewardContext:
    """Everything a reward function may use about one step.

    Attributes:
        step: 1-based index of the step just taken.
        budget: Steps in the episode.
        initial_val_accuracy: Validation accuracy of the untrained host at reset.
        previous_val_accuracy: Before this step.
        val_accuracy: After this step (equal to previous on divergence).
        growth_ratio: Seed parameters / host parameters after this step.
        invalid_action: The action was masked and became a no-op.
        diverged: The training loss was not finite.
        terminated: This is the episode's last step.
    """

    step: int
    budget: int
    initial_val_accuracy: float
    previous_val_accuracy: float
    val_accuracy: float
    growth_ratio: float
    invalid_action: bool
    diverged: bool
    terminated: bool


@dataclass(frozen=True)
class RewardTerms:
    """The breakdown of one step's reward (``info["reward_terms"]``); ``total`` is the reward.

    With a callable reward, ``custom`` holds its value and the other terms are what the dense
    reward would have used (for reference; they are not added).
    """

    accuracy: float
    rent: float
    invalid: float
    divergence: float
    custom: float | None = None
    deferred: float = 0.0

    @property
    def total(self) -> float:
        if self.custom is not None:
            return self.custom
        return self.accuracy + self.rent + self.invalid + self.divergence - self.deferred


RewardFn = Callable[[RewardContext], float]


@dataclass(frozen=True)
class RewardConfig:
    """Reward settings (see the module docstring)."""

    mode: RewardMode | RewardFn = RewardMode.DENSE
    param_rent: float = 0.05
    invalid_action_penalty: float = 0.01
    divergence_penalty: float = 1.0

    def dense_terms(self, ctx: RewardContext) -> RewardTerms:
        accuracy = 0.0 if ctx.diverged else ctx.val_accuracy - ctx.previous_val_accuracy
        return RewardTerms(
            accuracy=accuracy,
            rent=-self.param_rent * ctx.growth_ratio / ctx.budget,
            invalid=-self.invalid_action_penalty if ctx.invalid_action else 0.0,
            divergence=-self.divergence_penalty if ctx.diverged else 0.0,
        )


class RewardTracker:
    """Turns step contexts into rewards for one episode, in the configured mode."""

    def __init__(self, config: RewardConfig) -> None:
        self.config = config
        self._pending = 0.0

    def __call__(self, ctx: RewardContext) -> RewardTerms:
        terms = self.config.dense_terms(ctx)
        mode = self.config.mode
        if callable(mode) and not isinstance(mode, RewardMode):
            return RewardTerms(
                terms.accuracy, terms.rent, terms.invalid, terms.divergence, custom=float(mode(ctx))
            )
        if mode is RewardMode.TERMINAL:
            # Hold this step's dense reward back; pay everything held at the end.
            dense = terms.total
            held, self._pending = self._pending, self._pending + dense
            if ctx.terminated:
                self._pending = 0.0
                return RewardTerms(
                    terms.accuracy, terms.rent, terms.invalid, terms.divergence, deferred=-held
                )
            return RewardTerms(
                terms.accuracy, terms.rent, terms.invalid, terms.divergence, deferred=dense
            )
        return terms
