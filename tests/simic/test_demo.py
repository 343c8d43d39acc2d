"""The main-job demo: it runs, prints every decision, and is deterministic and side-effect free."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import simic.demo as demo
from kasmina import TRANSITIONS, KasminaError, SeedStage, UnknownChoiceError
from simic.demo import DemoConfig, DemoConfigError, DemoReport, make_task, run_demo

SMALL = DemoConfig(steps=30, seed=0)


def _run(config: DemoConfig) -> tuple[DemoReport, list[str]]:
    lines: list[str] = []
    return run_demo(config, out=lines.append), lines


@pytest.fixture(scope="module")
def small_run() -> tuple[DemoReport, list[str]]:
    return _run(SMALL)


def test_demo_prints_stage_changes_decisions_and_summary(small_run):
    report, lines = small_run
    text = "\n".join(lines)
    for stage in ("GERMINATED", "TRAINING", "BLENDING", "HOLDING"):
        assert f"-> {stage}" in text
    assert "counterfactuals" in text
    assert "BLENDING    conv_heavy  alpha 0.50" in text  # the alpha ramp is shown between stages
    for label in (
        "summary",
        "host params",
        "seed params",
        "growth ratio",
        "val accuracy before growth",
        "val accuracy after growth",
        "host-only control",
    ):
        assert label in text
    assert lines[-1] == "activation checkpointing: off (no memory pressure on cpu)"
    assert report.checkpoint_events == ()


def test_report_is_consistent(small_run):
    report, _ = small_run
    assert [d.slot for d in report.decisions] == ["block0", "block1"]
    fossil = 0
    for d in report.decisions:
        # The rule: keep a seed that does not hurt validation accuracy, prune one that does.
        assert d.action == ("fossilize" if d.contribution >= 0 else "prune")
        final = "FOSSILIZED" if d.action == "fossilize" else "PRUNED"
        assert any(e.slot == d.slot and e.new == final for e in report.stage_events)
        fossil += d.params if d.action == "fossilize" else 0
    assert report.params.fossilized == fossil
    assert report.params.live == 0
    assert report.params.host == report.params_before_growth
    assert sum(p.steps for p in report.phase_losses) == SMALL.steps
    for acc in (report.accuracy_before_growth, report.final_accuracy, report.control_accuracy):
        assert 0.0 <= acc <= 1.0


def test_stage_events_follow_the_transition_table(small_run):
    report, _ = small_run
    for e in report.stage_events:
        assert SeedStage[e.new] in TRANSITIONS[SeedStage[e.old]]
    assert [e.step for e in report.stage_events] == sorted(e.step for e in report.stage_events)


def test_demo_is_deterministic(small_run):
    report, lines = small_run
    again, again_lines = _run(SMALL)
    assert again == report
    assert again_lines == lines


def test_demo_leaves_global_rng_and_threads_untouched():
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(2)  # differs from the run's own setting (1), so a leak would show
    try:
        torch_state, np_state = torch.get_rng_state(), np.random.get_state()
        _run(DemoConfig(steps=23, seed=3))
        assert torch.equal(torch.get_rng_state(), torch_state)
        after = np.random.get_state()
        assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
        assert after[2:] == np_state[2:]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous_threads)


def test_noop_seeds_change_nothing_and_are_kept():
    report, _ = _run(DemoConfig(steps=23, blueprints=("noop", "noop")))
    assert [d.contribution for d in report.decisions] == [0.0, 0.0]
    assert [d.action for d in report.decisions] == ["fossilize", "fossilize"]
    assert report.params.seeds == 0


def test_harmful_seeds_are_pruned_and_their_slots_recover(monkeypatch):
    real = demo.evaluate

    def switched_off_looks_perfect(model, x, y):
        # Make every counterfactual pass look better than the model: both seeds "hurt".
        if any(s.alpha_override == 0.0 for s in model.iter_slots()):
            return 1.0
        return real(model, x, y)

    monkeypatch.setattr(demo, "evaluate", switched_off_looks_perfect)
    report, _ = _run(DemoConfig(steps=40))
    assert [d.action for d in report.decisions] == ["prune", "prune"]
    assert report.params.seeds == 0
    for slot in ("block0", "block1"):
        tail = [e.new for e in report.stage_events if e.slot == slot][-3:]
        assert tail == ["PRUNED", "EMBARGOED", "DORMANT"]


def test_synthetic_task_is_seeded_and_well_formed():
    a, b, c = make_task(0), make_task(0), make_task(1)
    assert a.train_x.shape == (demo.TRAIN_SIZE, 1, demo.SEQ_LEN)
    assert a.val_x.shape == (demo.VAL_SIZE, 1, demo.SEQ_LEN)
    assert a.train_x.dtype == torch.float32 and a.train_y.dtype == torch.int64
    assert set(a.train_y.tolist()) == set(range(demo.NUM_CLASSES))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_y, b.val_y)
    assert not torch.equal(a.train_x, c.train_x)


def test_batch_order_covers_each_epoch_once():
    order = demo.batch_order(0, batch_size=100, steps=20)  # exactly one epoch
    assert sorted(order.flatten().tolist()) == list(range(demo.TRAIN_SIZE))


def test_unknown_blueprint_suggests_the_closest_name():
    with pytest.raises(UnknownChoiceError, match=r"(?i)did you mean 'conv_light'"):
        DemoConfig(blueprints=("conv_lite", "attention"))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"steps": 5}, r"steps >= 23"),
        ({"steps": 0}, r"steps must be an int >= 1"),
        ({"batch_size": 0}, r"batch_size"),
        ({"batch_size": 5000}, r"batch_size"),
        ({"seed": -1}, r"seed"),
        ({"host_lr": 0.0}, r"host_lr"),
        ({"seed_lr": float("nan")}, r"seed_lr"),
        ({"blueprints": ("conv_light",)}, r"two CNN blueprints"),
        ({"blueprints": "conv_light"}, r"two CNN blueprints"),
        ({"tick_every": 0}, r"tick_every"),
    ],
)
def test_bad_config_values_raise_clear_errors(kwargs, match):
    with pytest.raises(DemoConfigError, match=match):
        DemoConfig(**kwargs)


def test_config_errors_are_value_errors_and_kasmina_errors():
    with pytest.raises(ValueError):
        DemoConfig(steps=0)
    with pytest.raises(KasminaError):
        DemoConfig(steps=0)


def test_bad_device_suggests_a_device_type():
    with pytest.raises(UnknownChoiceError, match=r"(?i)did you mean 'cuda'"):
        DemoConfig(device="cuda0")


def test_blueprints_list_becomes_a_tuple():
    assert DemoConfig(blueprints=["norm", "noop"]).blueprints == ("norm", "noop")


def test_phases_add_up_to_steps():
    for steps in (23, 24, 60, 101):
        warmup, growth, finetune = DemoConfig(steps=steps).phase_steps
        assert warmup >= 1 and finetune >= 0 and warmup + growth + finetune == steps
