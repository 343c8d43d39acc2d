"""MorphogeneticModel: function preservation, isolation, lifecycle, optimizers, counterfactuals."""

import copy

import pytest
import torch
import torch.nn.functional as F

from kasmina import (
    BlueprintRegistry,
    IllegalTransitionError,
    LifecycleConfig,
    MorphogeneticModel,
    SeedStage,
    UnknownChoiceError,
)
from tests.kasmina.helpers import HOST_KINDS, build_host, host_input, make_model

TOPOLOGY = {"cnn1d": "cnn", "cnn2d": "cnn", "transformer": "transformer"}
CASES = [
    (kind, name, slot)
    for kind in HOST_KINDS
    for name in BlueprintRegistry.names(TOPOLOGY[kind])
    for slot in build_host(kind).injection_points()
]

FAST = LifecycleConfig(training_ticks=1, blending_ticks=2, embargo_ticks=2)


def _targets(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5))


def _drive_to(model: MorphogeneticModel, slot: str, stage: SeedStage) -> None:
    while model.slot(slot).stage is not stage:
        model.advance_lifecycle()


@pytest.mark.parametrize("kind,name,slot", CASES)
def test_germination_preserves_function(kind, name, slot):
    model = make_model(kind, lifecycle=FAST).eval()
    x = host_input(kind)
    before = model(x)
    model.germinate(slot, name)
    assert (model(x) - before).abs().max() <= 1e-6
    # The seed is the identity at birth, so every stage it can reach untrained preserves it too.
    for stage in (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.HOLDING):
        _drive_to(model, slot, stage)
        assert (model(x) - before).abs().max() <= 1e-6, stage
    model.fossilize(slot)
    assert (model(x) - before).abs().max() <= 1e-6


def _host_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.host.named_parameters()}


@pytest.mark.parametrize("kind,name,slot", [c for c in CASES if c[1] != "noop"])
def test_incubator_isolation(kind, name, slot):
    x, y = host_input(kind), _targets()
    bare = make_model(kind)
    seeded = copy.deepcopy(bare)
    seeded.germinate(slot, name)
    seeded.advance_lifecycle()
    assert seeded.slot(slot).stage is SeedStage.TRAINING
    # Move the seed off the identity (as training would): at birth its zero-initialised output
    # layer makes its Jacobian the identity, which would hide a leak into the host's gradients.
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in seeded.slot(slot).seed.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    for model in (bare, seeded):
        model.train().zero_grad()
        F.cross_entropy(model(x), y).backward()
    reference, observed = _host_grads(bare), _host_grads(seeded)
    for param_name, grad in reference.items():
        assert torch.allclose(observed[param_name], grad, atol=1e-6, rtol=0), param_name
    seed_grads = [p.grad for p in seeded.slot(slot).seed.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in seed_grads)


def test_incubator_forward_value_is_the_host_value_after_seed_training():
    model = make_model("cnn1d", lifecycle=LifecycleConfig(training_ticks=50))
    x, y = host_input("cnn1d"), _targets()
    model.germinate("block0", "conv_heavy")
    model.advance_lifecycle()
    for _ in range(5):
        model.train_step(x, y)
    seed = model.slot("block0").seed
    assert any(p.abs().sum() > 0 for p in seed.body[-1].parameters()), "seed did not train"
    model.eval()
    with model.switched_off("block0"):
        without = model(x)
    assert torch.equal(model(x), without)


def test_blending_ramps_alpha_linear_and_cosine():
    for schedule, expected in (
        ("linear", [0.2, 0.4, 0.6, 0.8, 1.0]),
        ("cosine", [0.0954915, 0.3454915, 0.6545085, 0.9045085, 1.0]),
    ):
        model = make_model("cnn1d", lifecycle=LifecycleConfig(1, 4, 1, schedule))
        model.germinate("block1", "norm")
        model.advance_lifecycle()  # -> TRAINING
        alphas, stages = [], []
        for _ in range(5):
            model.advance_lifecycle()  # -> BLENDING, then 3 ramp ticks, then -> HOLDING
            alphas.append(model.slot("block1").alpha)
            stages.append(model.slot("block1").stage)
        assert alphas == pytest.approx(expected, abs=1e-6)
        assert stages == [SeedStage.BLENDING] * 4 + [SeedStage.HOLDING]


def test_blending_output_is_the_alpha_mix():
    model = make_model("transformer", lifecycle=LifecycleConfig(1, 4, 1))
    model.germinate("layer0", "mlp")
    slot = model.slot("layer0")
    for p in slot.seed.parameters():
        p.data.add_(0.1)
    _drive_to(model, "layer0", SeedStage.BLENDING)
    model.advance_lifecycle()
    h = torch.randn(2, 12, 16, generator=torch.Generator().manual_seed(0))
    expected = h + slot.alpha * (slot.seed(h) - h)
    assert torch.allclose(slot(h), expected, atol=1e-6)


def test_full_lifecycle_and_optimizers():
    model = make_model("cnn1d", lifecycle=FAST)
    x, y = host_input("cnn1d"), _targets()
    model.germinate("block0", "conv_light")
    assert model.slot("block0").optimizer is not None
    assert len(model.optimizers()) == 1  # GERMINATED: wired in at the next tick
    model.advance_lifecycle()
    assert len(model.optimizers()) == 2
    host_groups = len(model.host_optimizer.param_groups)
    _drive_to(model, "block0", SeedStage.HOLDING)
    model.train_step(x, y)
    seed_params = list(model.slot("block0").seed.parameters())
    seed_state = model.slot("block0").optimizer.state[seed_params[0]]
    change = model.fossilize("block0")
    assert (change.old, change.new, change.blueprint) == (
        SeedStage.HOLDING,
        SeedStage.FOSSILIZED,
        "conv_light",
    )
    assert model.slot("block0").optimizer is None
    assert len(model.host_optimizer.param_groups) == host_groups + 1
    assert model.host_optimizer.state[seed_params[0]] is seed_state
    before = [p.clone() for p in seed_params]
    model.train_step(x, y)
    assert any(not torch.equal(a, b) for a, b in zip(before, seed_params, strict=True)), (
        "a fossilized seed must keep training with the host"
    )
    counts = model.param_counts()
    assert counts.fossilized == sum(p.numel() for p in seed_params) and counts.live == 0
    with pytest.raises(IllegalTransitionError, match="FOSSILIZED -> PRUNED"):
        model.prune("block0")


def test_prune_releases_seed_then_embargo_then_dormant():
    model = make_model("cnn2d", lifecycle=FAST)
    model.germinate("block1", "bottleneck")
    model.advance_lifecycle()
    assert model.param_counts().live > 0
    model.prune("block1")
    slot = model.slot("block1")
    assert slot.seed is None and slot.optimizer is None
    assert model.param_counts().live == 0
    assert all(p is not None for p in model.parameters())
    assert len(list(slot.parameters())) == 0
    stages = []
    for _ in range(4):
        model.advance_lifecycle()
        stages.append(slot.stage)
    assert stages == [
        SeedStage.EMBARGOED,
        SeedStage.EMBARGOED,
        SeedStage.DORMANT,
        SeedStage.DORMANT,
    ]
    with pytest.raises(IllegalTransitionError):
        model.prune("block1")
    model.germinate("block1", "norm")  # DORMANT again: a new seed may grow


def test_illegal_transitions_raise_typed_errors():
    model = make_model("cnn1d", lifecycle=FAST)
    with pytest.raises(IllegalTransitionError, match="DORMANT -> FOSSILIZED"):
        model.fossilize("block0")
    model.germinate("block0", "norm")
    with pytest.raises(IllegalTransitionError, match="GERMINATED -> GERMINATED"):
        model.germinate("block0", "norm")
    with pytest.raises(IllegalTransitionError, match="GERMINATED -> PRUNED"):
        model.prune("block0")
    model.advance_lifecycle()
    with pytest.raises(IllegalTransitionError, match="TRAINING -> FOSSILIZED") as info:
        model.fossilize("block0")
    assert set(info.value.allowed) == {SeedStage.BLENDING, SeedStage.PRUNED}


def test_unknown_slot_and_blueprint_errors():
    model = make_model("transformer")
    with pytest.raises(UnknownChoiceError, match="did you mean 'layer1'"):
        model.germinate("layr1", "mlp")
    with pytest.raises(UnknownChoiceError, match="did you mean 'lora'"):
        model.germinate("layer1", "lor")
    assert model.slot("layer1").stage is SeedStage.DORMANT
    with pytest.raises(UnknownChoiceError, match="slot"):
        MorphogeneticModel(build_host("cnn1d"), slots=["block9"])


def test_param_counts_report_host_and_seeds():
    model = make_model("transformer")
    host = sum(p.numel() for p in model.host.parameters())
    assert model.param_counts().host == host and model.param_counts().seeds == 0
    model.germinate("layer0", "mlp")
    mlp = BlueprintRegistry.spec("transformer", "mlp").param_count(16)
    counts = model.param_counts()
    assert (counts.host, counts.live, counts.fossilized) == (host, mlp, 0)
    assert counts.growth_ratio == pytest.approx(mlp / host)


def test_counterfactual_switch_off_leaves_running_stats_untouched():
    model = make_model("cnn1d", lifecycle=FAST)
    x, y = host_input("cnn1d"), _targets()
    model.germinate("block1", "conv_light")
    _drive_to(model, "block1", SeedStage.HOLDING)
    for _ in range(3):
        model.train_step(x, y)
    model.train()  # the hard case: BatchNorm would update its running statistics
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    with_seed = model(x).detach()
    buffers_after_normal = {n: b.clone() for n, b in model.named_buffers()}
    assert any(not torch.equal(buffers[n], buffers_after_normal[n]) for n in buffers)
    with model.switched_off("block1"):
        without = model(x).detach()
        assert model.slot("block1").alpha_override == 0.0
    assert model.slot("block1").alpha_override is None
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers_after_normal[n]), n
    assert not torch.allclose(with_seed, without)
    model.eval()
    with model.switched_off("block1"):
        bare_value = model(x)
    host_only = model.host(x)
    assert torch.equal(bare_value, host_only)


def test_germination_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    weights = []
    for _ in range(2):
        model = make_model("transformer", seed=123)
        model.germinate("layer0", "attention")
        weights.append(model.slot("layer0").seed.qkv.weight.clone())
    assert torch.equal(weights[0], weights[1])
    assert torch.equal(torch.get_rng_state(), state)
    other = make_model("transformer", seed=124)
    other.germinate("layer0", "attention")
    assert not torch.equal(other.slot("layer0").seed.qkv.weight, weights[0])


def test_train_step_is_deterministic_on_cpu():
    losses = []
    for _ in range(2):
        model = make_model("cnn1d", lifecycle=FAST, seed=7)
        x, y = host_input("cnn1d"), _targets()
        model.germinate("block0", "depthwise")
        run = []
        for _ in range(6):
            run.append(model.train_step(x, y).loss)
            model.advance_lifecycle()
        losses.append(run)
    assert losses[0] == losses[1]


def test_nonfinite_loss_does_not_step_optimizers():
    model = make_model("cnn1d")
    x, y = host_input("cnn1d"), _targets()
    before = [p.clone() for p in model.parameters()]
    result = model.train_step(x, y, loss_fn=lambda out, t: out.sum() * float("nan"))
    assert not torch.isfinite(torch.tensor(result.loss))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_counterfactual_shows_a_training_seed_fully_blended():
    model = make_model("transformer", lifecycle=LifecycleConfig(training_ticks=5))
    model.germinate("layer1", "mlp")
    model.advance_lifecycle()
    slot = model.slot("layer1")
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():  # random, not constant: LayerNorm would cancel a constant shift
        for p in slot.seed.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    model.eval()
    x = host_input("transformer")
    incubated = model(x)
    with model.counterfactual({"layer1": 1.0}):
        blended = model(x)
    assert torch.equal(incubated, model.host(x))
    assert not torch.allclose(blended, incubated)
    expected = model.host(x, {"layer1": slot.seed})
    assert torch.allclose(blended, expected, atol=1e-6)
    assert slot.alpha_override is None and slot.stage is SeedStage.TRAINING
