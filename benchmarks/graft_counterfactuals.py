"""What the graph cut buys a grafted model's counterfactual passes (issue 21).

``forward_counterfactuals`` on a grafted residual 1-D CNN (two blocks of width 8, a blending
seed after each, each switched off as the environment measures it; 500 validation samples, one
thread), with the cut (each counterfactual restarts from its slot) against full passes at every
slot: side by side in one run, alternating, after a check that both give identical logits.
Prints the per-round times and the median ratio.

Usage::

    python -m benchmarks.graft_counterfactuals [--rounds 5] [--calls 50]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import torch
from torch import Tensor, nn

from kasmina import GraftedHost, MorphogeneticModel, SeedStage, graft, seeded_init
from kasmina.counterfactual import contribution_alphas


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class _Net(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, width, 5, padding=2)
        self.block0, self.block1 = _Block(width), _Block(width)
        self.head = nn.Linear(width, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.block1(self.block0(torch.relu(self.stem(x)))).mean(dim=-1))


def _model() -> MorphogeneticModel:
    with seeded_init(0):
        model = MorphogeneticModel(graft(_Net(), ["block0", "block1"]))
        for slot in ("block0", "block1"):
            model.germinate(slot, "conv_light")
    while any(s.stage is not SeedStage.BLENDING for s in model.iter_slots()):
        model.advance_lifecycle()  # blending in: the plain pass runs both seeds
    return model.eval()


def _time(model: MorphogeneticModel, x: Tensor, alphas: dict[str, float], calls: int) -> float:
    with torch.no_grad():
        model.forward_counterfactuals(x, alphas)  # warm-up
        start = time.perf_counter()
        for _ in range(calls):
            model.forward_counterfactuals(x, alphas)
    return (time.perf_counter() - start) / calls * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = _model()
    alphas = contribution_alphas(model)  # what the environment measures: both switched off
    x = torch.randn(500, 1, 32, generator=torch.Generator().manual_seed(0))
    no_cut = mock.patch.object(GraftedHost, "can_cut", lambda _self, _slot: False)
    with torch.no_grad(), no_cut:
        full_logits = model.forward_counterfactuals(x, alphas)[1]
    with torch.no_grad():
        cut_logits = model.forward_counterfactuals(x, alphas)[1]
    assert all(torch.equal(full_logits[k], cut_logits[k]) for k in alphas)
    ratios = []
    for r in range(args.rounds):
        cut = _time(model, x, alphas, args.calls)
        with no_cut:
            full = _time(model, x, alphas, args.calls)
        ratios.append(full / cut)
        print(f"round {r}: cut {cut:.2f} ms, full passes {full:.2f} ms, ratio {full / cut:.2f}")
    print(f"median ratio {sorted(ratios)[len(ratios) // 2]:.2f} (identical logits: yes)")


if __name__ == "__main__":
    main()
