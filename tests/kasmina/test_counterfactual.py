"""kasmina.counterfactual: the module functions, the model's delegating methods, and the one
rule for which counterfactual measures a live seed."""

from __future__ import annotations

import pytest
import torch

from kasmina import LifecycleConfig, SeedStage
from kasmina.counterfactual import (
    contribution_alpha,
    contribution_alphas,
    forward_counterfactuals,
    override_alphas,
    switched_off,
)
from tests.kasmina.helpers import host_input, make_model


@pytest.mark.parametrize("stage", list(SeedStage))
def test_contribution_alpha_blends_an_incubating_seed_in_and_switches_others_off(stage):
    assert contribution_alpha(stage) == (1.0 if stage is SeedStage.TRAINING else 0.0)


def _staged_model():
    """block0 TRAINING, block1 BLENDING (mid-ramp), the rest DORMANT; seeds off identity."""
    model = make_model("cnn1d", lifecycle=LifecycleConfig(training_ticks=1, blending_ticks=3))
    model.germinate("block1", "conv_light")
    for _ in range(3):  # GERMINATED -> TRAINING -> BLENDING, one tick into the ramp
        model.slot("block1").tick()
    model.germinate("block0", "conv_light")
    model.slot("block0").tick()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for slot in model.iter_slots():
            for p in slot.seed.parameters() if slot.seed is not None else []:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def test_contribution_alphas_cover_the_live_seeds_in_slot_order():
    model = _staged_model()
    assert model.slot("block0").stage is SeedStage.TRAINING
    assert model.slot("block1").stage is SeedStage.BLENDING
    assert list(contribution_alphas(model).items()) == [("block0", 1.0), ("block1", 0.0)]


def test_functions_and_methods_give_the_same_logits_and_restore_everything():
    model = _staged_model().train()
    x = host_input("cnn1d")
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    with override_alphas(model, {"block0": 1.0}):
        by_function = model(x)
    assert model.slot("block0").alpha_override is None
    assert all(torch.equal(b, buffers[k]) for k, b in model.named_buffers())
    with model.counterfactual({"block0": 1.0}):
        assert torch.equal(model(x), by_function)
    with switched_off(model, "block1"):
        off = model(x)
    with model.switched_off("block1"):
        assert torch.equal(model(x), off)
    assert not torch.equal(off, by_function)  # the overrides did change the output


def test_forward_counterfactuals_function_equals_the_method_and_full_passes():
    model = _staged_model().eval()
    x = host_input("cnn1d")
    alphas = contribution_alphas(model)
    logits, others = forward_counterfactuals(model, x, alphas)
    method_logits, method_others = model.forward_counterfactuals(x, alphas)
    assert torch.equal(logits, method_logits)
    assert others.keys() == method_others.keys() == alphas.keys()
    for slot_id, alpha in alphas.items():
        with override_alphas(model, {slot_id: alpha}):
            full = model(x)
        assert torch.equal(others[slot_id], full)
        assert torch.equal(method_others[slot_id], full)
