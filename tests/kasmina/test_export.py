"""describe_seeds / restore_seeds: a grown model rebuilt from its description and state_dict."""

import json

import pytest
import torch
from torch import Tensor

from kasmina import (
    KasminaError,
    LifecycleConfig,
    MorphogeneticModel,
    Registry,
    SeedModule,
    SeedStage,
    UnexpectedKeywordError,
    UnknownChoiceError,
)
from tests.kasmina.helpers import HOST_KINDS, host_input, make_model

FAST = LifecycleConfig(training_ticks=1, blending_ticks=2, embargo_ticks=2)
# (blueprint, the caller's keywords) per host: the first slot's seed, then the second's.
SEEDS = {
    "cnn1d": [("conv_light", {"kernel": 5}), ("conv_heavy", {})],
    "cnn2d": [("depthwise", {"checkpoint": True}), ("attention", {"reduction": 2})],
    "transformer": [("lora", {"rank": 4}), ("mlp_small", {"checkpoint": True})],
}
STAGES = [s for s in SeedStage if s is not SeedStage.DORMANT]


def _train(model: MorphogeneticModel, kind: str, steps: int = 1) -> None:
    targets = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(5))
    for i in range(steps):
        model.train_step(host_input(kind, seed=10 + i), targets)


def _tick(model: MorphogeneticModel, kind: str) -> None:
    model.advance_lifecycle()
    _train(model, kind)


def _drive(model: MorphogeneticModel, kind: str, slot: str, stage: SeedStage) -> None:
    """Germinate ``slot``'s seed and take it to ``stage``, training along the way."""
    blueprint, kwargs = SEEDS[kind][list(model.slots).index(slot)]
    model.germinate(slot, blueprint, **kwargs)
    if stage is SeedStage.GERMINATED:
        return
    _tick(model, kind)  # TRAINING
    if stage in (SeedStage.PRUNED, SeedStage.EMBARGOED):
        model.prune(slot)
        if stage is SeedStage.EMBARGOED:
            _tick(model, kind)
            _tick(model, kind)  # still EMBARGOED, one tick in
        return
    while model.slot(slot).stage is not stage and stage is not SeedStage.FOSSILIZED:
        _tick(model, kind)
        if model.slot(slot).stage is SeedStage.BLENDING and stage is SeedStage.BLENDING:
            _tick(model, kind)  # mid-ramp: ticks_in_stage 1, alpha 2/3
            return
    if stage is SeedStage.FOSSILIZED:
        while model.slot(slot).stage is not SeedStage.HOLDING:
            _tick(model, kind)
        model.fossilize(slot)
        _train(model, kind)


def _grow(kind: str, stage: SeedStage) -> MorphogeneticModel:
    """A trained model: its second slot FOSSILIZED, its first in ``stage``, seeds off identity."""
    model = make_model(kind, lifecycle=FAST, seed=3)
    first, second = list(model.slots)
    _drive(model, kind, second, SeedStage.FOSSILIZED)
    _drive(model, kind, first, stage)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():  # training alone leaves a young seed close to the identity
        for slot in model.iter_slots():
            for p in slot.seed.parameters() if slot.seed is not None else []:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def _restore(kind: str, original: MorphogeneticModel) -> MorphogeneticModel:
    description = json.loads(json.dumps(original.describe_seeds()))  # survives JSON
    restored = make_model(kind, lifecycle=FAST)
    restored.restore_seeds(description)
    restored.load_state_dict(original.state_dict())
    return restored


def _slot_state(model: MorphogeneticModel) -> list[dict]:
    names = ("slot_id", "stage", "blueprint", "alpha", "ticks_in_stage", "seed_kwargs")
    return [
        {n: getattr(s, n) for n in (*names, "checkpoint_pinned")} | {"seed": type(s.seed)}
        for s in model.iter_slots()
    ]


@pytest.mark.parametrize("stage", STAGES, ids=str)
@pytest.mark.parametrize("kind", HOST_KINDS)
def test_restore_reproduces_function_and_state(kind, stage):
    original = _grow(kind, stage)
    assert original.slot(next(iter(original.slots))).stage is stage
    restored = _restore(kind, original)
    x = host_input(kind, batch=8, seed=7)
    for training in (False, True):
        original.train(training)
        restored.train(training)
        with torch.no_grad():
            assert torch.equal(original(x), restored(x)), training
    assert _slot_state(restored) == _slot_state(original)
    assert restored.describe_seeds() == original.describe_seeds()
    assert restored.param_counts() == original.param_counts()
    assert len(restored.optimizers()) == len(original.optimizers())


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_restored_seeds_join_the_right_optimizers_and_lifecycle_goes_on(kind):
    original = _grow(kind, SeedStage.BLENDING)
    restored = _restore(kind, original)
    first, second = (restored.slot(s) for s in restored.slots)
    host_params = {id(p) for g in restored.host_optimizer.param_groups for p in g["params"]}
    assert {id(p) for p in second.seed.parameters()} <= host_params  # fossilized
    assert second.optimizer is None
    live_params = {id(p) for g in first.optimizer.param_groups for p in g["params"]}
    assert live_params == {id(p) for p in first.seed.parameters()}
    assert not live_params & host_params
    for _ in range(2):  # BLENDING -> HOLDING on the same tick in both
        changes = [(c.slot_id, c.old, c.new) for c in original.advance_lifecycle()]
        assert [(c.slot_id, c.old, c.new) for c in restored.advance_lifecycle()] == changes
        assert _slot_state(restored) == _slot_state(original)


def test_fresh_model_describes_every_slot_as_dormant(host_kind):
    model = make_model(host_kind)
    expected = {"stage": "DORMANT", "blueprint": None, "ticks_in_stage": 0}
    assert model.describe_seeds() == dict.fromkeys(model.slots, expected)
    model.restore_seeds(model.describe_seeds())
    assert all(s.stage is SeedStage.DORMANT and s.seed is None for s in model.iter_slots())


def test_germinate_records_only_the_callers_keywords():
    model = make_model("cnn1d", lifecycle=FAST)
    model.germinate("block0", "conv_light")
    model.germinate("block1", "conv_light", kernel=5)
    assert model.slot("block0").seed_kwargs == {}  # spatial_dims=1 is the host's, not recorded
    assert model.slot("block1").seed_kwargs == {"kernel": 5}
    described = model.describe_seeds()["block1"]
    assert described == {
        "stage": "GERMINATED",
        "blueprint": "conv_light",
        "ticks_in_stage": 0,
        "alpha": 0.0,
        "seed_kwargs": {"kernel": 5},
    }
    model.advance_lifecycle()
    model.prune("block1")
    assert model.slot("block1").seed_kwargs == {}
    assert model.describe_seeds()["block1"] == {
        "stage": "PRUNED",
        "blueprint": "conv_light",
        "ticks_in_stage": 0,
    }


def _description() -> dict:
    return _grow("cnn1d", SeedStage.HOLDING).describe_seeds()


def _assert_untouched(model: MorphogeneticModel) -> None:
    assert all(s.stage is SeedStage.DORMANT and s.seed is None for s in model.iter_slots())
    assert len(model.host_optimizer.param_groups) == 1


@pytest.mark.parametrize(
    "edit,error,match",
    [
        (lambda d: d.update(block9=d.pop("block1")), UnknownChoiceError, "'block9'.*'block1'"),
        (lambda d: d.pop("block1"), KasminaError, r"no entry for slot\(s\) \['block1'\]"),
        (lambda d: d["block0"].update(stage="HOLDNG"), UnknownChoiceError, "'HOLDING'"),
        (lambda d: d["block0"].update(blueprint="conv_lite"), UnknownChoiceError, "conv_light"),
        (lambda d: d["block0"].update(blueprint=None), KasminaError, "needs a blueprint"),
        (lambda d: d["block0"].update(seed_kwargs={"kernal": 5}), UnexpectedKeywordError, "kernel"),
        (lambda d: d["block0"].update(alpha=1.5), KasminaError, "alpha .* got 1.5"),
        (lambda d: d["block0"].update(ticks_in_stage=-1), KasminaError, "ticks_in_stage"),
        (lambda d: d["block0"].pop("stage"), KasminaError, "needs at least a 'stage'"),
    ],
)
def test_bad_descriptions_raise_clearly_and_change_nothing(edit, error, match):
    description = _description()
    edit(description)
    model = make_model("cnn1d", lifecycle=FAST)
    with pytest.raises(error, match=match):
        model.restore_seeds(description)
    _assert_untouched(model)


def test_restoring_into_a_used_model_raises():
    description = _description()
    model = make_model("cnn1d", lifecycle=FAST)
    model.germinate("block1", "conv_light")
    with pytest.raises(KasminaError, match=r"all DORMANT.*block1 \(GERMINATED\)"):
        model.restore_seeds(description)


class _TaggedSeed(SeedModule):
    """A parameter-free seed with an arbitrary keyword (for custom-registry tests)."""

    def __init__(self, dim: int, *, spatial_dims: int = 2, tag: object = None) -> None:
        super().__init__()
        self.tag = tag

    def residual(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)


def test_custom_registry_round_trip_and_non_json_keywords():
    registry = Registry()
    registry.register("cnn", "tagged")(_TaggedSeed)
    model = make_model("cnn1d", registry=registry)
    model.germinate("block0", "tagged", tag="kept")
    restored = make_model("cnn1d", registry=registry)
    restored.restore_seeds(model.describe_seeds())
    assert restored.slot("block0").seed.tag == "kept"
    assert restored.slot("block0").optimizer is None  # no parameters, no optimizer
    model.germinate("block1", "tagged", tag=object())
    with pytest.raises(KasminaError, match=r"'block1': seed keyword tag=<object.*not a JSON"):
        model.describe_seeds()
