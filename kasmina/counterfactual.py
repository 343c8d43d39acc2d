"""Counterfactual passes: a model evaluated with some seeds' alpha overridden.

A seed's worth is what the model does with it minus what it does without it (or, for a seed
still incubating, with it fully blended in). This module owns that question for kasmina:

* :func:`override_alphas` / :func:`switched_off`: a context in which ``model(x)`` runs with some
  slots' alpha overridden, every buffer restored on exit;
* :func:`forward_counterfactuals`: the plain logits and one counterfactual per slot from one
  shared pass (each counterfactual starts at its slot, from the plain pass's features);
* :func:`contribution_alpha` / :func:`contribution_alphas`: *which* counterfactual measures a
  live seed's contribution (the one rule the environment, its batched variant and the
  benchmarks share).

:class:`~kasmina.MorphogeneticModel` keeps its methods of the same names; they delegate here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor

from kasmina.errors import KasminaError
from kasmina.hosts import HostNetwork
from kasmina.lifecycle import SeedStage
from kasmina.slot import SeedSlot


class SlottedModel(Protocol):
    """What the passes need of a :class:`~kasmina.MorphogeneticModel` (which delegates here,
    so this module cannot import it): a host, its slots, and ``nn.Module``'s call and modes."""

    host: HostNetwork
    slots: Mapping[str, SeedSlot]
    training: bool

    def __call__(self, x: Tensor) -> Tensor: ...

    def slot(self, slot_id: str) -> SeedSlot: ...

    def iter_slots(self) -> Iterator[SeedSlot]: ...

    def named_buffers(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, Tensor]]: ...


class Sight(NamedTuple):
    """What the plain pass saw at one slot: its input ``h``, its seed's output ``s`` (if run),
    and their version counters then (a later in-place op, e.g. a grafted model's
    ``ReLU(inplace=True)`` after the point, bumps them: the record is then stale)."""

    h: Tensor
    s: Tensor | None
    versions: tuple[int, ...]

    def intact(self) -> bool:
        """Whether neither tensor has been modified in place since it was recorded."""
        return _versions(self.h, self.s) == self.versions


def _versions(h: Tensor, s: Tensor | None) -> tuple[int, ...]:
    return (h._version,) if s is None else (h._version, s._version)


Seen = dict[str, Sight]
"""Per slot, what the plain pass saw there."""


def contribution_alpha(stage: SeedStage) -> float:
    """The alpha at which a counterfactual pass measures a live seed in ``stage``.

    A TRAINING seed does not change the model's output (incubator mode), so switching it off
    would measure nothing: it is tested fully blended in (1). Any other seed is switched off
    (0). A contribution is then (accuracy at 1 - accuracy as is) for the first and (accuracy as
    is - accuracy at 0) for the second: positive when the seed helps.
    """
    return 1.0 if stage is SeedStage.TRAINING else 0.0


def contribution_alphas(model: SlottedModel) -> dict[str, float]:
    """``{slot_id: contribution_alpha(stage)}`` for every live seed, in slot order."""
    return {
        slot.slot_id: contribution_alpha(slot.stage)
        for slot in model.iter_slots()
        if slot.stage.is_live
    }


@contextmanager
def override_alphas(model: SlottedModel, alphas: Mapping[str, float]) -> Iterator[None]:
    """Evaluate ``model`` with the alpha of some slots overridden (``{slot_id: alpha}``).

    0 switches a seed off whatever its stage; for a TRAINING seed, 1 shows what it would do
    fully blended in. Every buffer (BatchNorm running statistics included) is restored on exit,
    so a counterfactual pass changes nothing even in training mode.
    """
    slots = {model.slot(s): float(a) for s, a in alphas.items()}
    saved = {name: buf.clone() for name, buf in model.named_buffers()}
    previous = {s: s.alpha_override for s in slots}
    for s, alpha in slots.items():
        s.alpha_override = alpha
    try:
        yield
    finally:
        for s, old in previous.items():
            s.alpha_override = old
        with torch.no_grad():
            for name, buf in model.named_buffers():
                buf.copy_(saved[name])


def switched_off(model: SlottedModel, *slot_ids: str) -> AbstractContextManager[None]:
    """Evaluate ``model`` as if ``slot_ids`` held no seed; see :func:`override_alphas`."""
    return override_alphas(model, dict.fromkeys(slot_ids, 0.0))


def forward_counterfactuals(
    model: SlottedModel, x: Tensor, alphas: Mapping[str, float]
) -> tuple[Tensor, dict[str, Tensor]]:
    """``model(x)`` and, per slot of ``alphas``, the logits with that one alpha overridden.

    Bit for bit what ``with override_alphas(model, {slot_id: alpha}): model(x)`` gives, slot by
    slot, but cheaper: a slot does not change what runs before it, so each counterfactual
    starts from the features the plain pass had at its slot
    (:meth:`HostNetwork.forward_from`) and reuses the seed's output there. A counterfactual
    that equals the plain pass (a slot without a working seed, switched off) returns the
    plain logits. Slots where the host cannot restart (:meth:`HostNetwork.can_cut`: hosts
    without ``forward_from``, a grafted point inside a residual block) get one full pass each,
    as do slots whose recorded features a later in-place op changed.

    Raises:
        KasminaError: in training mode, where the extra passes would move BatchNorm
            running statistics (evaluate in eval mode, as validation does).
    """
    if model.training:
        raise KasminaError("forward_counterfactuals needs eval mode (call model.eval())")
    for slot_id in alphas:
        model.slot(slot_id)  # an unknown id raises here, naming the valid ones
    cut = [k for k in alphas if model.host.can_cut(k)]
    if not cut:
        return model(x), _full_counterfactuals(model, x, alphas)
    seen: Seen = {}
    recorders = {k: _recorder(model, k, seen) for k in cut}
    logits = model.host(x, {**model.slots, **recorders})
    out = {}
    for slot_id, alpha in alphas.items():
        sight = seen.get(slot_id)
        if sight is not None and sight.intact():
            out[slot_id] = _suffix(model, slot_id, float(alpha), sight, logits)
        else:  # not cuttable, not reached by the plain pass, or its record went stale
            out[slot_id] = _full_counterfactuals(model, x, {slot_id: alpha})[slot_id]
    return logits, out


def _full_counterfactuals(
    model: SlottedModel, x: Tensor, alphas: Mapping[str, float]
) -> dict[str, Tensor]:
    out = {}
    for slot_id, alpha in alphas.items():
        with override_alphas(model, {slot_id: alpha}):
            out[slot_id] = model(x)
    return out


def _recorder(model: SlottedModel, slot_id: str, seen: Seen) -> Callable[[Tensor], Tensor]:
    """Slot ``slot_id`` as in a plain pass, keeping its input and its seed's output."""
    slot = model.slot(slot_id)

    def run(h: Tensor) -> Tensor:
        override = slot.alpha_override
        if not slot.runs_seed(override) or slot.seed is None:
            seen[slot_id] = Sight(h, None, _versions(h, None))
            return h
        s = slot.seed(slot.seed_input(h, override))
        seen[slot_id] = Sight(h, s, _versions(h, s))
        return slot.mix(h, s, override)

    return run


def _suffix(
    model: SlottedModel,
    slot_id: str,
    alpha: float,
    seen: Sight,
    plain: Tensor,
) -> Tensor:
    """The logits with slot ``slot_id`` at ``alpha``, from what the plain pass saw there."""
    slot, h, s = model.slot(slot_id), seen.h, seen.s
    if not slot.runs_seed(alpha):
        if s is None:  # the slot's output is h in both passes: nothing to recompute
            return plain
        out = h
    elif s is not None:
        out = slot.mix(h, s, alpha)
    else:  # the plain pass did not run the seed (the slot had an override of 0)
        with override_alphas(model, {slot_id: alpha}):
            out = slot(h)
    return model.host.forward_from(slot_id, h, {**model.slots, slot_id: lambda _: out})
