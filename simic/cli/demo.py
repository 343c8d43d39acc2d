"""``simic demo``: a tour of kasmina on the real MNIST-1D data, printing every decision.

The host trains alone, then a seed is germinated into each of its two slots; each trains in
isolation, blends in, and is fossilized or pruned on its counterfactual contribution. The same
host trained alone on the same batches is the control. Data and batch order are ``envs``'s own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from envs.data import BatchStream, Split, TaskData
from envs.evaluation import evaluate_split
from envs.tasks import get_task
from kasmina import BlueprintRegistry, CNNHost, OptimizerSpec, UserError, seeded_init
from kasmina.lifecycle import LifecycleConfig, SeedStage, StageChange
from kasmina.model import MorphogeneticModel, ParamCounts
from kasmina.threads import torch_threads
from kasmina.validation import is_int, require_device, require_int
from simic.common.options import doc
from simic.common.printing import Printer

SLOTS = ("block0", "block1")  # CNNHost names one injection point per block
LIFECYCLE = LifecycleConfig(training_ticks=3, blending_ticks=3, embargo_ticks=2)
TICK_EVERY = 3  # training steps per lifecycle tick
GROWTH_STEPS = (LIFECYCLE.training_ticks + LIFECYCLE.blending_ticks) * TICK_EVERY
# A quarter of the steps trains the host alone first, so that the seeds join a host that has
# learned something; the seeds then need GROWTH_STEPS to reach HOLDING.
MIN_STEPS = next(s for s in itertools.count() if s - s // 4 >= GROWTH_STEPS)


class DemoConfigError(UserError, ValueError):
    """A :class:`DemoConfig` field with a bad value."""


@dataclass(frozen=True)
class DemoConfig:
    """What ``simic demo`` runs (each field's help is its ``--help`` line)."""

    steps: int = field(default=300, metadata=doc("training steps in total"))
    seed: int = field(default=0, metadata=doc("seed of the batches and of every initial weight"))
    device: str = field(default="cpu", metadata=doc("torch device: cpu, cuda, cuda:N or mps"))
    # Over seeds 0-3 these ended -4.0 to +7.6 points from the host-only control (+1.3 on
    # average), fossilizing 7 seeds of 8: the summary always prints the control beside them.
    blueprints: tuple[str, str] = field(
        default=("conv_light", "attention"),
        metadata=doc(
            "CNN blueprints for block0 and block1, see 'simic blueprints --topology cnn'",
            metavar=("A", "B"),
        ),
    )

    def __post_init__(self) -> None:
        if not is_int(self.steps) or self.steps < MIN_STEPS:
            raise DemoConfigError(
                f"steps={self.steps!r} is too few: after the host's warm-up (a quarter of the "
                f"steps) the seeds need {GROWTH_STEPS} to reach HOLDING; use steps >= {MIN_STEPS}"
            )
        require_int("seed", self.seed, 0, DemoConfigError)
        require_device("device", self.device, error=DemoConfigError)
        if not isinstance(self.blueprints, tuple | list) or len(self.blueprints) != 2:
            raise DemoConfigError(f"blueprints must name two CNN blueprints: {self.blueprints!r}")
        object.__setattr__(self, "blueprints", tuple(self.blueprints))  # a list is unhashable
        for name in self.blueprints:
            BlueprintRegistry.spec("cnn", name)  # an unknown name raises with the closest one


@dataclass(frozen=True)
class Decision:
    """A HOLDING seed's counterfactual measurement and what it decided."""

    slot: str
    blueprint: str
    contribution: float  # validation accuracy with the seed minus with it switched off
    action: str  # "fossilize" or "prune"


@dataclass(frozen=True)
class DemoReport:
    """What :func:`run_demo` measured (accuracies are fractions of the validation split)."""

    accuracy_before_growth: float
    final_accuracy: float
    control_accuracy: float  # the same host trained alone on the same batches
    params: ParamCounts
    decisions: tuple[Decision, ...]


def accuracy(model: MorphogeneticModel, split: Split) -> float:
    """Accuracy on ``split`` in one eval-mode pass (running statistics untouched)."""
    return evaluate_split(model, split, chunk_size=len(split))[1]


class _Tour:
    """One demo run: its config, the data, the growing model and where it prints."""

    def __init__(self, config: DemoConfig, data: TaskData, out: Printer) -> None:
        self.config, self.data, self.out = config, data, out
        self.model = self.new_model()

    def new_model(self) -> MorphogeneticModel:
        with seeded_init(self.config.seed):  # on CPU: seeded_init forks only the CPU generator
            host = CNNHost(1, 10, (8, 16), spatial_dims=1)  # the host of simic/Grow-MNIST1D-v0
        host.to(self.data.train.x.device)  # before wrapping: the optimizer holds these weights
        spec, seed = OptimizerSpec(lr=1e-2), self.config.seed
        return MorphogeneticModel(
            host, lifecycle=LIFECYCLE, host_optimizer=spec, seed_optimizer=spec, seed=seed
        )

    def batches(self) -> BatchStream:
        rng = np.random.default_rng([self.config.seed, 1])
        return BatchStream(len(self.data.train), 64, rng, self.data.train.x.device)

    def train(self, model: MorphogeneticModel, stream: BatchStream, steps: int) -> None:
        for i in range(steps):
            idx = stream.next()
            model.train_step(self.data.train.x[idx], self.data.train.y[idx])
            if model is self.model and (i + 1) % TICK_EVERY == 0:  # no ticks for the control
                self.show(self.model.advance_lifecycle())

    def show(self, changes: list[StageChange]) -> None:
        for c in changes:
            alpha = self.model.slot(c.slot_id).alpha
            self.out(
                f"  step {self.model.steps_taken:3d}  {c.slot_id}  {c.old!s:>10} -> "
                f"{c.new!s:<10}  {c.blueprint or '-':<10}  alpha {alpha:.2f}"
            )

    def decide(self) -> tuple[Decision, ...]:
        holding = [s for s in self.model.iter_slots() if s.stage is SeedStage.HOLDING]
        with_all, decisions = accuracy(self.model, self.data.val), []
        for s in holding:  # all measured before any is acted on: no decision biases another
            with self.model.switched_off(s.slot_id):
                gain = with_all - accuracy(self.model, self.data.val)
            # A seed that does not hurt is kept: on a tie its capacity may still pay off later.
            action = "fossilize" if gain >= 0 else "prune"
            decisions.append(Decision(s.slot_id, s.blueprint or "-", gain, action))
        for d in decisions:
            self.out(f"    {d.slot} {d.blueprint}: {100 * d.contribution:+.1f} pts -> {d.action}")
            act = self.model.fossilize if d.action == "fossilize" else self.model.prune
            self.show([act(d.slot)])
        return tuple(decisions)


def _run(tour: _Tour) -> DemoReport:
    config, model, stream, data = tour.config, tour.model, tour.batches(), tour.data
    warmup, out = config.steps // 4, tour.out
    out(f"simic demo: kasmina on MNIST-1D, {len(data.train)} train / {len(data.val)} validation")
    out(f"[1/4] CNNHost ({model.param_counts().host} params) trains alone: {warmup} steps")
    tour.train(model, stream, warmup)
    before = accuracy(model, data.val)
    out(f"  validation accuracy {before:.1%}")
    out(f"[2/4] germinate, train in isolation, blend in: {GROWTH_STEPS} steps")
    tour.show([model.germinate(s, b) for s, b in zip(SLOTS, config.blueprints, strict=True)])
    tour.show(model.advance_lifecycle())  # GERMINATED -> TRAINING at once: no idle step
    tour.train(model, stream, GROWTH_STEPS)
    out("[3/4] counterfactual contribution (validation accuracy with minus without the seed)")
    decisions = tour.decide()
    out(f"[4/4] fine-tune: {config.steps - warmup - GROWTH_STEPS} steps")
    tour.train(model, stream, config.steps - warmup - GROWTH_STEPS)
    control = tour.new_model()
    tour.train(control, tour.batches(), config.steps)
    final, p = accuracy(model, data.val), model.param_counts()
    report = DemoReport(before, final, accuracy(control, data.val), p, decisions)
    out(f"summary: params host {p.host}, seeds {p.seeds} (fossilized {p.fossilized})")
    out(f"  validation accuracy {before:.1%} before growth, {final:.1%} after")
    out(f"  host-only control {report.control_accuracy:.1%} (same steps and batches, no seeds)")
    events, device = model.governor.events, data.train.x.device
    idle = f"off (no memory pressure on {device})"
    out(f"activation checkpointing: {f'{len(events)} switch(es)' if events else idle}")
    return report


def run_demo(config: DemoConfig | None = None, out: Printer = print) -> DemoReport:
    """Run the tour, printing every stage change and decision through ``out``.

    Deterministic for a given config on a given device type (CUDA kernels may not be).
    """
    config = config or DemoConfig()
    data = get_task("mnist1d").load_data().to(torch.device(config.device))
    # One thread is fastest for a model this small, and it fixes the order of floating-point
    # reductions, so the printed numbers do not depend on the machine's core count.
    with torch_threads(1):
        return _run(_Tour(config, data, out))
