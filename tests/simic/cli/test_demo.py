"""The demo, a tour of kasmina on MNIST-1D: every decision shown, deterministic, no side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import simic.cli.demo as demo
from simic.cli.demo import DemoConfig, DemoConfigError, DemoReport, run_demo


def _run(config: DemoConfig) -> tuple[DemoReport, list[str]]:
    lines: list[str] = []
    return run_demo(config, out=lines.append), lines


@pytest.fixture(scope="module")
def small_run() -> tuple[DemoReport, list[str]]:
    return _run(DemoConfig(steps=30))


def test_every_stage_change_and_decision_is_printed_and_followed(small_run):
    report, lines = small_run
    text = "\n".join(lines)
    assert "MNIST-1D, 3000 train / 1000 validation" in text  # the real data, from envs.data
    for stage in ("GERMINATED", "TRAINING", "BLENDING", "HOLDING"):
        assert f"-> {stage}" in text
    assert [d.slot for d in report.decisions] == ["block0", "block1"]
    for d in report.decisions:
        assert d.action == ("fossilize" if d.contribution >= 0 else "prune")
        assert f"{d.slot} {d.blueprint}: {100 * d.contribution:+.1f} pts -> {d.action}" in text
        final = "FOSSILIZED" if d.action == "fossilize" else "PRUNED"
        assert f"{d.slot}     HOLDING -> {final}" in text
    assert report.params.live == 0 and lines[-1].endswith("(no memory pressure on cpu)")


def test_the_demo_is_deterministic_and_leaves_global_state_alone(small_run):
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(2)  # differs from the run's own setting (1), so a leak would show
    try:
        torch_state, np_state = torch.get_rng_state(), np.random.get_state()
        assert _run(DemoConfig(steps=30)) == small_run
        assert torch.equal(torch.get_rng_state(), torch_state)
        assert all(
            np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state, strict=True)
        )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous_threads)


def test_noop_seeds_change_nothing_and_are_kept():
    report, _ = _run(DemoConfig(steps=23, blueprints=("noop", "noop")))
    assert [(d.contribution, d.action) for d in report.decisions] == [(0.0, "fossilize")] * 2


def test_harmful_seeds_are_pruned(monkeypatch):
    real = demo.accuracy

    def switched_off_looks_perfect(model, split):  # every seed then seems to hurt
        off = any(s.alpha_override == 0.0 for s in model.iter_slots())
        return 1.0 if off else real(model, split)

    monkeypatch.setattr(demo, "accuracy", switched_off_looks_perfect)
    report, _ = _run(DemoConfig(steps=23))
    assert [d.action for d in report.decisions] == ["prune", "prune"]
    assert report.params.seeds == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": "30"}, r"steps='30' is too few: .* use steps >= 23"),
        ({"seed": -1}, r"seed must be an int >= 0"),
        ({"blueprints": ("conv_light",)}, r"two CNN blueprints"),  # names: see test_cli
    ],
)
def test_bad_config_values_are_one_clear_line(kwargs, match):
    with pytest.raises(DemoConfigError, match=match) as info:
        DemoConfig(**kwargs)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
