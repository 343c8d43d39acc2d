"""HostNetwork.forward_from and MorphogeneticModel.forward_counterfactuals: bit-identical to full
passes, for every host kind, every slot and every stage a seed can be in."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from kasmina import KasminaError, MorphogeneticModel, SeedStage, UnknownChoiceError
from kasmina.hosts import HostNetwork
from tests.kasmina.helpers import HOST_KINDS, build_host, host_input, make_model

BLUEPRINT = {"cnn1d": "conv_light", "cnn2d": "conv_light", "transformer": "mlp"}
STAGES = (
    SeedStage.TRAINING,
    SeedStage.BLENDING,
    SeedStage.HOLDING,
    SeedStage.FOSSILIZED,
    SeedStage.GERMINATED,
    SeedStage.DORMANT,
)


def _grown(kind: str, stages: tuple[SeedStage, ...]) -> MorphogeneticModel:
    """A model whose slots hold seeds in ``stages`` (cycled), with non-zero seed weights."""
    model = make_model(kind)
    g = torch.Generator().manual_seed(3)
    for i, slot in enumerate(model.iter_slots()):
        stage = stages[i % len(stages)]
        if stage is SeedStage.DORMANT:
            continue
        model.germinate(slot.slot_id, BLUEPRINT[kind])
        with torch.no_grad():  # a zero-initialised seed would hide a wrong suffix
            for p in slot.seed.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
        while slot.stage is not stage and stage is not SeedStage.GERMINATED:
            if slot.stage is SeedStage.HOLDING:
                model.fossilize(slot.slot_id)
            else:
                slot.tick()
    return model.eval()


def _inputs(model: MorphogeneticModel, x: Tensor) -> dict[str, Tensor]:
    seen: dict[str, Tensor] = {}

    def recorder(slot_id: str):
        def run(h: Tensor) -> Tensor:
            seen[slot_id] = h
            return model.slots[slot_id](h)

        return run

    model.host(x, {s: recorder(s) for s in model.slots})
    return seen


@pytest.mark.parametrize("kind", HOST_KINDS)
@pytest.mark.parametrize("stage", STAGES)
def test_forward_from_every_slot_equals_the_full_forward(kind, stage):
    model, x = _grown(kind, (stage,)), host_input(kind)
    with torch.no_grad():
        full, seen = model(x), _inputs(model, x)
        for slot_id, h in seen.items():
            assert torch.equal(model.host.forward_from(slot_id, h, model.slots), full)
            with model.counterfactual({slot_id: 0.3}):  # an override changes only the suffix
                expected = model(x)
                assert torch.equal(model.host.forward_from(slot_id, h, model.slots), expected)


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_forward_from_without_slots_is_the_bare_host(kind):
    host, x = build_host(kind).eval(), host_input(kind)
    seen: dict[str, Tensor] = {}

    def recorder(slot_id: str):
        return lambda h: seen.setdefault(slot_id, h)

    host(x, {s: recorder(s) for s in host.injection_points()})
    for slot_id, h in seen.items():
        assert torch.equal(host.forward_from(slot_id, h), host(x))
    with pytest.raises(UnknownChoiceError, match="slot"):
        host.forward_from("nope", x)


@pytest.mark.parametrize("kind", HOST_KINDS)
@pytest.mark.parametrize("offset", range(len(STAGES)))
@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.4])
def test_forward_counterfactuals_equal_one_full_pass_per_slot(kind, offset, alpha):
    model = _grown(kind, STAGES[offset:] + STAGES[:offset])
    x = host_input(kind, batch=9)
    alphas = dict.fromkeys(model.slots, alpha)
    with torch.no_grad():
        logits, counterfactuals = model.forward_counterfactuals(x, alphas)
        assert torch.equal(logits, model(x))
        for slot_id in alphas:
            with model.counterfactual({slot_id: alpha}):
                assert torch.equal(counterfactuals[slot_id], model(x)), slot_id


def test_forward_counterfactuals_needs_eval_mode_and_known_slots():
    model = _grown("cnn1d", (SeedStage.HOLDING,))
    with pytest.raises(UnknownChoiceError, match="slot"):
        model.forward_counterfactuals(host_input("cnn1d"), {"block9": 0.0})
    model.train()
    with pytest.raises(KasminaError, match="eval mode"):
        model.forward_counterfactuals(host_input("cnn1d"), {"block0": 0.0})


class _Wrapped(HostNetwork):
    """A host that does not implement forward_from: the model falls back to full passes."""

    def __init__(self, inner: HostNetwork) -> None:
        super().__init__()
        self.inner, self.topology = inner, inner.topology

    def injection_points(self) -> dict[str, int]:
        return self.inner.injection_points()

    def blueprint_kwargs(self) -> dict[str, object]:
        return self.inner.blueprint_kwargs()

    def forward(self, x: Tensor, slots=None) -> Tensor:
        return self.inner(x, slots)


def test_hosts_without_forward_from_fall_back_to_full_passes():
    model = MorphogeneticModel(_Wrapped(build_host("cnn1d")))
    model.germinate("block0", "conv_light")
    model.eval()
    x = host_input("cnn1d")
    with torch.no_grad():
        logits, counterfactuals = model.forward_counterfactuals(x, {"block0": 1.0})
        with model.counterfactual({"block0": 1.0}):
            assert torch.equal(counterfactuals["block0"], model(x))
    assert torch.equal(logits, model(x))
