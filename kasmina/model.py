"""MorphogeneticModel: a host network, its seed slots, their optimizers and the memory governor."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kasmina import counterfactual as passes
from kasmina import description as seed_format
from kasmina.blueprints.base import SeedModule
from kasmina.blueprints.registry import BlueprintRegistry, Registry
from kasmina.description import Description, SlotRecord
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


def _build_optimizer(spec: OptimizerSpec, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """``spec.build(params)`` on torch's multi-tensor (``foreach``) implementation.

    On CPU torch defaults to one Python loop iteration per parameter; the foreach kernels do the
    same arithmetic per tensor (bit-identical updates) in a few calls, which matters for models
    this small. Groups added later (fossilized seeds) inherit it from the defaults.
    """
    optimizer = spec.build(params)
    if "foreach" in optimizer.defaults:
        optimizer.defaults["foreach"] = True
        for group in optimizer.param_groups:
            group["foreach"] = True
    return optimizer


def _occupied(slot: SeedSlot) -> bool:
    return slot.stage is not SeedStage.DORMANT or slot.seed is not None


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
        self.host_optimizer = _build_optimizer(self.host_optimizer_spec, host.parameters())
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
        The slot records ``kwargs`` (see :meth:`describe_seeds`).
        """
        slot = self.slot(slot_id)
        if slot.stage is not SeedStage.DORMANT:
            slot.transition(SeedStage.GERMINATED)  # raises the typed IllegalTransitionError
        module = self._build_seed(slot, blueprint, kwargs)
        optimizer = self._seed_optimizer(module)
        pinned = bool(kwargs.get("checkpoint"))
        change = slot.attach(blueprint, module, optimizer, pinned=pinned, kwargs=kwargs)
        slot.set_checkpointing(self.governor.checkpointing)
        return change

    def _build_seed(
        self,
        slot: SeedSlot,
        blueprint: str,
        kwargs: Mapping[str, object],
        init_seed: int | None = None,
    ) -> SeedModule:
        """``blueprint`` for ``slot`` on the host's device and dtype, in the model's mode.

        ``init_seed=None`` draws the initial weights from the model's generator, after the
        blueprint is known to exist, so a mistyped name does not advance it.
        """
        spec = self.registry.spec(slot.topology, blueprint)
        defaults = {k: v for k, v in self.host.blueprint_kwargs().items() if k in spec.keywords}
        seed = derive_seed(self._generator) if init_seed is None else init_seed
        with seeded_init(seed):
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
        return module

    def _seed_optimizer(self, module: SeedModule) -> torch.optim.Optimizer | None:
        params = list(module.parameters())
        return _build_optimizer(self.seed_optimizer_spec, params) if params else None

    def _join_host_optimizer(self, params: list[nn.Parameter]) -> None:
        # Fossilized seeds train on with the host's recipe, as part of the host.
        self.host_optimizer.add_param_group(
            {"params": params, **self.host_optimizer_spec.hyperparameters()}
        )

    def fossilize(self, slot_id: str) -> StageChange:
        """HOLDING -> FOSSILIZED: the seed joins the host and its optimizer (state carried over)."""
        slot = self.slot(slot_id)
        change = slot.transition(SeedStage.FOSSILIZED)
        params = list(slot.seed.parameters()) if slot.seed is not None else []
        if params:
            self._join_host_optimizer(params)
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

    # ----------------------------------------------------------------------------- export
    def describe_seeds(self) -> dict[str, dict[str, object]]:
        """A JSON-serialisable description of every slot's lifecycle state, by slot id.

        With :meth:`state_dict` it is everything needed to rebuild the grown model
        (:meth:`restore_seeds`); the entries are :mod:`kasmina.description`'s (``seed_kwargs``:
        the keywords given to :meth:`germinate`, not the host's automatic ones). Not described:
        optimizer state and the model's seed generator, so a restored model's later
        germinations draw different initial weights.

        Raises:
            KasminaError: if a seed keyword is not a JSON scalar (str, int, float, bool, None).
        """
        return seed_format.describe_seeds(self.iter_slots())

    def restore_seeds(self, description: Description) -> None:
        """Rebuild the slots :meth:`describe_seeds` recorded, on a fresh model of the same host.

        Each seed module is re-created through the registry with its recorded keywords and the
        slot is put directly in its recorded stage, alpha and ticks. The transition table is
        bypassed on purpose: this is reconstruction, not a lifecycle event (no
        :class:`StageChange` happens, and FOSSILIZED is not reachable from DORMANT in one move).
        As after :meth:`fossilize`, fossilized seeds' parameters join the host optimizer; seeds
        still in their lifecycle get their own fresh optimizer. The seeds' weights are those of
        a fresh build: call ``load_state_dict`` afterwards. Every entry is checked and every
        module built before any slot changes, so a bad description leaves the model as it was.

        Raises:
            KasminaError: a slot is not DORMANT, a slot is missing, or an entry is malformed.
            UnknownChoiceError: an unknown slot id, stage name or blueprint.
            UnexpectedKeywordError: recorded seed keywords the blueprint does not accept.
        """
        busy = [f"{s.slot_id} ({s.stage})" for s in self.iter_slots() if _occupied(s)]
        if busy:
            raise KasminaError(
                "restore_seeds needs a fresh model whose slots are all DORMANT; "
                f"these are not: {', '.join(busy)}"
            )
        records = seed_format.parse_description(description, self.slots, self.registry)
        modules = {
            slot_id: self._build_seed(self.slot(slot_id), r.blueprint, r.seed_kwargs, 0)
            for slot_id, r in records.items()
            if r.stage.has_seed and r.blueprint is not None
        }
        for slot_id, record in records.items():
            self._install(self.slot(slot_id), record, modules.get(slot_id))

    def _install(self, slot: SeedSlot, record: SlotRecord, module: SeedModule | None) -> None:
        optimizer = None
        if module is not None and record.stage is SeedStage.FOSSILIZED:
            params = list(module.parameters())
            if params:
                self._join_host_optimizer(params)
        elif module is not None:
            optimizer = self._seed_optimizer(module)
        slot.restore_state(
            record.stage,
            record.blueprint,
            module,
            optimizer,
            alpha=record.alpha,
            ticks_in_stage=record.ticks_in_stage,
            seed_kwargs=record.seed_kwargs,
        )
        slot.set_checkpointing(self.governor.checkpointing)

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
        value = float(loss)  # one read of the loss, not a tensor isfinite plus a read
        if math.isfinite(value):
            for optimizer in optimizers:
                optimizer.step()
        self.steps_taken += 1
        return StepResult(value, self.steps_taken - 1, retried, event)

    # ----------------------------------------------------------------------------- counterfactuals
    def counterfactual(self, alphas: Mapping[str, float]) -> AbstractContextManager[None]:
        """Evaluate the model with the alpha of some slots overridden (``{slot_id: alpha}``).

        0 switches a seed off; 1 blends a TRAINING seed fully in. Every buffer is restored on
        exit (:func:`kasmina.counterfactual.override_alphas`).
        """
        return passes.override_alphas(self, alphas)

    def switched_off(self, *slot_ids: str) -> AbstractContextManager[None]:
        """Evaluate the model as if ``slot_ids`` held no seed; see :meth:`counterfactual`."""
        return passes.switched_off(self, *slot_ids)

    def forward_counterfactuals(
        self, x: Tensor, alphas: Mapping[str, float]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``self(x)`` and, per slot of ``alphas``, the logits with that one alpha overridden.

        Bit for bit what ``with self.counterfactual({slot_id: alpha}): self(x)`` gives, slot by
        slot, from one shared pass (:func:`kasmina.counterfactual.forward_counterfactuals`).

        Raises:
            KasminaError: in training mode, where the extra passes would move BatchNorm
                running statistics (evaluate in eval mode, as validation does).
        """
        return passes.forward_counterfactuals(self, x, alphas)
