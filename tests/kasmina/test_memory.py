"""The memory governor, with injected probes and injected out-of-memory failures (CPU only)."""

import pytest
import torch

from kasmina import (
    GrowthOOMError,
    KasminaError,
    LifecycleConfig,
    MemoryGovernor,
    SeedStage,
    SwitchReason,
    device_memory_pressure,
)
from tests.kasmina.helpers import host_input, make_model


class ScriptedProbe:
    """A pressure probe that replays a fixed sequence (then repeats its last value)."""

    def __init__(self, *values):
        self.values, self.calls = list(values), 0

    def __call__(self, device):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


def _model(probe, **kwargs):
    governor = MemoryGovernor(probe, **kwargs)
    model = make_model(
        "transformer",
        governor=governor,
        lifecycle=LifecycleConfig(training_ticks=1, blending_ticks=1),
    )
    return model, governor


def _batch():
    return host_input("transformer"), torch.randint(
        0, 10, (6,), generator=torch.Generator().manual_seed(2)
    )


def test_water_marks_switch_on_at_high_and_off_below_low():
    model, governor = _model(ScriptedProbe(0.5, 0.9, 0.8, 0.6))
    model.germinate("layer0", "mlp")
    model.germinate("layer1", "lora")  # not checkpoint-capable: must be left alone
    model.advance_lifecycle()
    x, y = _batch()
    seen = []
    for _ in range(4):
        model.train_step(x, y)
        seen.append((governor.checkpointing, model.slot("layer0").seed.use_checkpoint))
    assert seen == [(False, False), (True, True), (True, True), (False, False)]
    events = governor.events
    assert [(e.step, e.pressure, e.enabled, e.reason) for e in events] == [
        (1, 0.9, True, SwitchReason.HIGH_PRESSURE),
        (3, 0.6, False, SwitchReason.LOW_PRESSURE),
    ]
    assert not model.slot("layer1").seed.use_checkpoint


def test_checkpointing_really_runs_when_switched_on(monkeypatch):
    calls = []
    import kasmina.blueprints.base as base

    real = base.activation_checkpoint

    def spy(fn, *args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(base, "activation_checkpoint", spy)
    model, governor = _model(ScriptedProbe(0.95))
    model.germinate("layer0", "mlp")
    model.advance_lifecycle()  # TRAINING: the seed sees detached features but trains
    model.train_step(*_batch())
    assert governor.checkpointing
    assert calls == [False]


def test_seed_germinated_under_pressure_starts_checkpointed():
    model, governor = _model(ScriptedProbe(0.9))
    model.train_step(*_batch())
    assert governor.checkpointing
    model.germinate("layer1", "attention")
    assert model.slot("layer1").seed.use_checkpoint


def test_pinned_checkpoint_survives_low_pressure():
    model, governor = _model(ScriptedProbe(0.9, 0.1))
    model.germinate("layer0", "mlp", checkpoint=True)
    model.advance_lifecycle()
    model.train_step(*_batch())
    model.train_step(*_batch())
    assert not governor.checkpointing
    assert model.slot("layer0").seed.use_checkpoint


def test_unmeasurable_pressure_changes_nothing():
    model, governor = _model(ScriptedProbe(0.9, None, float("nan"), 0.75))
    for _ in range(4):
        model.train_step(*_batch())
    assert governor.checkpointing
    assert len(governor.events) == 1


def test_poll_refused_inside_a_step():
    governor = MemoryGovernor(ScriptedProbe(0.1))

    def attempt():
        governor.poll(0)

    with pytest.raises(KasminaError, match="between optimizer steps"):
        governor.run_step(0, attempt, recover=lambda: None)
    governor.poll(1)  # fine again afterwards


class OOMOnce:
    """A loss function that raises torch.OutOfMemoryError on its first ``failures`` calls."""

    def __init__(self, failures=1):
        self.failures, self.calls = failures, 0

    def __call__(self, logits, targets):
        self.calls += 1
        if self.calls <= self.failures:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.nn.functional.cross_entropy(logits, targets)


def test_oom_is_retried_once_with_checkpointing_on():
    caches = []
    model, governor = _model(ScriptedProbe(0.1), empty_cache=caches.append, oom_hold_steps=5)
    model.germinate("layer0", "mlp")
    model.advance_lifecycle()
    before = [p.clone() for p in model.parameters()]
    loss_fn = OOMOnce()
    result = model.train_step(*_batch(), loss_fn=loss_fn)
    assert result.oom_retried and loss_fn.calls == 2
    assert governor.checkpointing and model.slot("layer0").seed.use_checkpoint
    assert caches == [torch.device("cpu")]
    assert [(e.enabled, e.reason) for e in governor.events] == [(True, SwitchReason.OOM_RETRY)]
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert any(changed), "the retried step must complete and update the weights"
    # Low pressure does not switch it off again until the hold expires.
    for _ in range(4):
        model.train_step(*_batch())
    assert governor.checkpointing
    model.train_step(*_batch())
    model.train_step(*_batch())
    assert not governor.checkpointing
    assert governor.events[-1].reason is SwitchReason.LOW_PRESSURE


def test_second_oom_raises_typed_error_with_clean_state():
    model, _ = _model(ScriptedProbe(0.1), empty_cache=lambda d: None)
    model.germinate("layer0", "mlp")
    model.advance_lifecycle()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(GrowthOOMError, match="step 0") as info:
        model.train_step(*_batch(), loss_fn=OOMOnce(failures=2))
    assert isinstance(info.value, RuntimeError)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    # The model is still usable: the caller can prune the seed and carry on.
    model.prune("layer0")
    assert model.slot("layer0").stage is SeedStage.PRUNED
    assert model.train_step(*_batch()).step == 0


def test_governor_validates_water_marks():
    with pytest.raises(KasminaError, match="low_water"):
        MemoryGovernor(high_water=0.5, low_water=0.7)
    with pytest.raises(KasminaError, match="oom_hold_steps"):
        MemoryGovernor(oom_hold_steps=-1)


def test_default_probe_reports_no_pressure_on_cpu():
    assert device_memory_pressure(torch.device("cpu")) == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_default_probe_reads_cuda_memory():
    pressure = device_memory_pressure(torch.device("cuda"))
    assert 0.0 <= pressure <= 1.0
