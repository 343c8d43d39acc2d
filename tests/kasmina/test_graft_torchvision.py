"""The README's torchvision example: a ResNet-18 grafted at layer2 and layer3 (optional extra)."""

from __future__ import annotations

import copy

import pytest
import torch

from kasmina import MorphogeneticModel, graft

torchvision = pytest.importorskip("torchvision", reason="torchvision is optional: pip install it")


def test_resnet18_grafts_grows_and_keeps_its_function() -> None:
    net = torchvision.models.resnet18(num_classes=10).eval()
    untouched = copy.deepcopy(net)
    host = graft(net, ["layer2", "layer3"])
    assert host.injection_points() == {"layer2": 128, "layer3": 256}
    model = MorphogeneticModel(host).eval()
    model.germinate("layer2", "conv_light")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), untouched(x))
    assert host.can_cut("layer2") and host.can_cut("layer3")
