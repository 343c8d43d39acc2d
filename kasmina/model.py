"""MorphogeneticModel: a host network, its seed slots, their optimizers and the memory governor."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kasmina.blueprints.base import SeedModule
from kasmina.blueprints.registry import BlueprintRegistry, Registry
from kasmina.errors import KasminaError, UnknownChoiceError
from kasmina.hosts import HostNetwork
from kasmina.lifecycle import LifecycleConfig, SeedStage, StageChange
from kasmina.memory import CheckpointEvent, MemoryGovernor
from kasmina.optim import OptimizerSpec
from kasmina.rng import derive_seed, seeded_init
from kasmina.slot import SeedSlot

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of a model.

    Attributes:
        host: The host's own parameters.
        fossilized: Parameters of seeds fossilized into the host.
        live: Parameters of seeds still in their lifecycle (TRAINING, BLENDING, HOLDING) or
            just germinated.
    """

    host: int
    fossilized: int
    live: int

    @property
    def seeds(self) -> int:
        return self.fossilized + self.live

    @property
    def total(self) -> int:
        return self.host + self.seeds

    @property
    def growth_ratio(self) -> float:
        """Seed parameters per host parameter (0 for the bare host)."""
        return self.seeds / self.host if self.host else 0.0


@dataclass(frozen=True)
class StepResult:
    """The outcome of :meth:`MorphogeneticModel.train_step`.

    Attributes:
        loss: The training loss of the batch (may be non-finite: the caller decides).
        step: Index of the optimizer step just taken.
        oom_retried: The step ran out of memory once and succeeded on the retry.
        checkpoint_event: The governor's switch before this step, if any.
    """

    loss: float
    step: int
    oom_retried: bool
    checkpoint_event: CheckpointEvent | None


def _count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


class MorphogeneticModel(nn.Module):
    """A host network plus one :class:`SeedSlot` per injection point.

    The model owns the optimizers: one for the host (built at construction; fossilized seeds
    join it) and one per live seed (built at germination, destroyed when the seed is fossilized
    or pruned). :meth:`train_step` runs forward, backward and every optimizer step under the
    memory governor, which may switch activation checkpointing on before the step or retry an
    out-of-memory step with it on.

    Args:
        host: The backbone.
        slots: Injection points to create slots at (default: all the host declares).
        lifecycle: Timings of the automatic lifecycle transitions.
        host_optimizer: Recipe of the host's optimizer.
        seed_optimizer: Recipe of each seed's optimizer.
        governor: The memory governor (default: one reading the device's memory pressure).
        registry: Where blueprints are looked up (default: :data:`BlueprintRegistry`).
        seed: Seeds the generator from which every germinated seed's initial weights derive.
    """

    def __init__(
        self,
        host: HostNetwork,
        *,
        slots: list[str] | None = None,
        lifecycle: LifecycleConfig | None = None,
        host_optimizer: OptimizerSpec | None = None,
        seed_optimizer: OptimizerSpec | None = None,
        governor: MemoryGovernor | None = None,
        registry: Registry = BlueprintRegistry,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.host = host
        points = host.injection_points()
        chosen = list(points) if slots is None else slots
        for slot_id in chosen:
            if slot_id not in points:
                raise UnknownChoiceError("slot", slot_id, points, context="for this host")
        self.lifecycle = lifecycle or LifecycleConfig()
        self.slots = nn.ModuleDict(
            {s: SeedSlot(s, points[s], host.topology, self.lifecycle) for s in chosen}
        )
        self.host_optimizer_spec = host_optimizer or OptimizerSpec()
        self.seed_optimizer_spec = seed_optimizer or OptimizerSpec()
        self.host_optimizer = self.host_optimizer_spec.build(host.parameters())
        self.governor = governor or MemoryGovernor()
        self.registry = registry
        self._generator = torch.Generator().manual_seed(seed)
        self.steps_taken = 0

    # ----------------------------------------------------------------------------- structure
    @property
    def device(self) -> torch.device:
        # The host optimizer's first parameter: O(1), unlike walking host.parameters().
        return self.host_optimizer.param_groups[0]["params"][0].device

    def slot(self, slot_id: str) -> SeedSlot:
        """The slot ``slot_id``; an unknown id raises with the valid ones."""
        if slot_id not in self.slots:
            raise UnknownChoiceError("slot", slot_id, self.slots)
        return self.slots[slot_id]  # type: ignore[return-value]

    def iter_slots(self) -> Iterator[SeedSlot]:
        yield from self.slots.values()  # type: ignore[misc]

    def forward(self, x: Tensor) -> Tensor:
        return self.host(x, self.slots)

    def param_counts(self) -> ParamCounts:
        """Host, fossilized-seed and live-seed parameter counts."""
        fossil = sum(_count(s.seed) for s in self.iter_slots() if s.stage is SeedStage.FOSSILIZED)
        live = sum(_count(s.seed) for s in self.iter_slots() if s.stage is not SeedStage.FOSSILIZED)
        return ParamCounts(_count(self.host), fossil, live)

    # ----------------------------------------------------------------------------- lifecycle
    def germinate(self, slot_id: str, blueprint: str, **kwargs: object) -> StageChange:
        """Build ``blueprint`` into DORMANT slot ``slot_id`` with its own optimizer.

        The seed starts as the exact identity, so the model's function is unchanged. Its weights
        derive from the model's generator (never the global RNG). If the governor has
        checkpointing on, a capable seed starts with it on; ``checkpoint=True`` pins it on.
        """
        slot = self.slot(slot_id)
        if slot.stage is not SeedStage.DORMANT:
            slot.transition(SeedStage.GERMINATED)  # raises the typed IllegalTransitionError
        spec = self.registry.spec(slot.topology, blueprint)
        defaults = {k: v for k, v in self.host.blueprint_kwargs().items() if k in spec.keywords}
        with seeded_init(derive_seed(self._generator)):
            module = self.registry.create(
                slot.topology, blueprint, slot.width, **{**defaults, **kwargs}
            )
        if not isinstance(module, SeedModule):
            raise KasminaError(
                f"blueprint {slot.topology}/{blueprint} built a "
                f"{type(module).__name__}, not a SeedModule"
            )
        param = next(self.host.parameters())
        module.to(device=param.device, dtype=param.dtype).train(self.training)
        params = list(module.parameters())
        optimizer = self.seed_optimizer_spec.build(params) if params else None
        change = slot.attach(blueprint, module, optimizer, pinned=bool(kwargs.get("checkpoint")))
        slot.set_checkpointing(self.governor.checkpointing)
        return change

    def fossilize(self, slot_id: str) -> StageChange:
        """HOLDING -> FOSSILIZED: the seed joins the host and its optimizer (state carried over)."""
        slot = self.slot(slot_id)
        change = slot.transition(SeedStage.FOSSILIZED)
        params = list(slot.seed.parameters()) if slot.seed is not None else []
        if params:
            self.host_optimizer.add_param_group(
                {"params": params, **self.host_optimizer_spec.hyperparameters()}
            )
            same_kind = self.seed_optimizer_spec.name == self.host_optimizer_spec.name
            if slot.optimizer is not None and same_kind:
                for p in params:  # keep the moments the seed has learned
                    if p in slot.optimizer.state:
                        self.host_optimizer.state[p] = slot.optimizer.state[p]
        slot.optimizer = None
        return change

    def prune(self, slot_id: str) -> StageChange:
        """TRAINING / BLENDING / HOLDING -> PRUNED: the seed and its optimizer are released."""
        slot = self.slot(slot_id)
        change = slot.transition(SeedStage.PRUNED)
        slot.release()
        return change

    def advance_lifecycle(self) -> list[StageChange]:
        """One lifecycle tick for every slot; returns the transitions that happened."""
        return [c for s in self.iter_slots() if (c := s.tick()) is not None]

    # ----------------------------------------------------------------------------- training
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The host's optimizer and those of the live seeds."""
        return [self.host_optimizer] + [
            s.optimizer for s in self.iter_slots() if s.optimizer is not None and s.stage.is_live
        ]

    def _apply_checkpointing(self) -> None:
        for slot in self.iter_slots():
            slot.set_checkpointing(self.governor.checkpointing)

    def _recover(self) -> None:
        self.zero_grad(set_to_none=True)
        self._apply_checkpointing()

    def train_step(
        self,
        inputs: Tensor,
        targets: Tensor,
        loss_fn: LossFn = F.cross_entropy,
    ) -> StepResult:
        """One optimizer step of host and live seeds on a batch, under the memory governor.

        The governor polls memory pressure *before* the step (checkpointing changes only between
        optimizer steps). A step that runs out of memory is retried once with checkpointing on;
        a second failure raises :class:`~kasmina.errors.GrowthOOMError` with the gradients
        cleared and no optimizer stepped.
        """
        device = self.device
        event = self.governor.poll(self.steps_taken, device)
        self._apply_checkpointing()
        if not self.training:  # Module.train() walks every submodule: not on the hot path
            self.train()

        optimizers = self.optimizers()

        def attempt() -> Tensor:
            for optimizer in optimizers:  # every parameter that can get a gradient is in one
                optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(self(inputs), targets)
            loss.backward()
            return loss.detach()

        loss, retried = self.governor.run_step(self.steps_taken, attempt, self._recover, device)
        if torch.isfinite(loss):
            for optimizer in optimizers:
                optimizer.step()
        self.steps_taken += 1
        return StepResult(float(loss), self.steps_taken - 1, retried, event)

    # ----------------------------------------------------------------------------- counterfactuals
    @contextmanager
    def counterfactual(self, alphas: Mapping[str, float]) -> Iterator[None]:
        """Evaluate the model with the alpha of some slots overridden (``{slot_id: alpha}``).

        0 switches a seed off whatever its stage; for a TRAINING seed, 1 shows what it would do
        fully blended in. Every buffer (BatchNorm running statistics included) is restored on
        exit, so a counterfactual pass changes nothing even in training mode.
        """
        slots = {self.slot(s): float(a) for s, a in alphas.items()}
        saved = {name: buf.clone() for name, buf in self.named_buffers()}
        previous = {s: s.alpha_override for s in slots}
        for s, alpha in slots.items():
            s.alpha_override = alpha
        try:
            yield
        finally:
            for s, old in previous.items():
                s.alpha_override = old
            with torch.no_grad():
                for name, buf in self.named_buffers():
                    buf.copy_(saved[name])

    def switched_off(self, *slot_ids: str) -> AbstractContextManager[None]:
        """Evaluate the model as if ``slot_ids`` held no seed; see :meth:`counterfactual`."""
        return self.counterfactual(dict.fromkeys(slot_ids, 0.0))
