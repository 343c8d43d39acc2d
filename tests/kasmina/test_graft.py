"""kasmina.graft: seed slots in any torch module, exact at birth, counterfactuals equal to full
passes whether the model restarts at a point (fx suffix) or not, and one-line errors."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from kasmina import (
    GraftedHost,
    GraftError,
    LifecycleConfig,
    MemoryGovernor,
    MorphogeneticModel,
    SeedStage,
    Topology,
    UnknownChoiceError,
    graft,
    seeded_init,
)
from kasmina.counterfactual import contribution_alpha


class Block(nn.Module):
    """A ResNet BasicBlock: conv-bn-relu-conv-bn, plus the skip, in-place add and ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """A stem (with torchvision's in-place ReLU after bn1), two stages and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Block(8, 8, 1))
        self.layer2 = nn.Sequential(Block(8, 16, 2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(x.mean(dim=(2, 3), keepdim=True), 1))


def _mixer() -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 16), nn.GELU())


class TokenNet(nn.Module):
    """Token features (N, T, D): the transformer blueprints need 3-D inputs, so no plain MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 16)
        self.mix1, self.mix2 = _mixer(), _mixer()
        self.head = nn.Linear(16, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.mix2(self.mix1(self.embed(x))).mean(dim=1))


class Gated(TokenNet):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def forward(self, x: Tensor) -> Tensor:
        h = self.mix1(self.embed(x))
        if h.mean() > -1.0:
            h = self.mix2(h)
        return self.head(h.mean(dim=1))


class Recurrent(nn.Module):
    """An LSTM returns a tuple: it cannot be a point."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 16)
        self.lstm = nn.LSTM(16, 16, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(self.embed(x))
        return self.head(out[:, -1])


NETS: dict[str, Callable[[], nn.Module]] = {
    "resnet": TinyResNet,
    "tokens": TokenNet,
    "gated": Gated,
}
BLUEPRINT = {"resnet": "conv_light", "tokens": "mlp", "gated": "mlp"}
CASES = {  # name -> (net, points): cuttable, inside a block, stale (in-place), nested, untraced
    "boundaries": ("resnet", ["layer1", "bn1", "layer2"]),
    "inside": ("resnet", ["layer1.0.conv1", "layer2"]),
    "nested": ("resnet", ["layer1", "layer1.0.conv1"]),
    "tokens": ("tokens", ["embed", "mix1", "mix2"]),
    "untraceable": ("gated", ["embed", "mix1", "mix2"]),
}
LIVE = (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.HOLDING, SeedStage.FOSSILIZED)


def _net(kind: str) -> nn.Module:
    with seeded_init(0):
        return NETS[kind]().eval()


def _input(kind: str, batch: int = 4) -> Tensor:
    shape = (batch, 3, 8, 8) if kind == "resnet" else (batch, 6, 3)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def _message(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def _grown(case: str, stage: SeedStage) -> MorphogeneticModel:
    """Every slot holds a seed in ``stage``, its weights nudged off the identity."""
    kind, points = CASES[case]
    lifecycle = LifecycleConfig(training_ticks=1, blending_ticks=3)
    model = MorphogeneticModel(graft(_net(kind), points), lifecycle=lifecycle)
    g = torch.Generator().manual_seed(3)
    for slot in model.iter_slots():
        model.germinate(slot.slot_id, BLUEPRINT[kind])
        with torch.no_grad():
            for p in slot.seed.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
        while slot.stage is not stage:
            if slot.stage is SeedStage.HOLDING:
                model.fossilize(slot.slot_id)
            else:
                slot.tick()
            if stage is SeedStage.BLENDING and slot.stage is stage:
                slot.tick()  # mid-ramp: an alpha strictly between 0 and 1
    return model.eval()


# ----------------------------------------------------------------------------- structure
def test_points_are_ordered_by_forward_with_inferred_dims_and_slash_ids() -> None:
    host = graft(_net("resnet"), ["layer2", "layer1/0/conv1", "bn1"])
    assert host.injection_points() == {"bn1": 8, "layer1/0/conv1": 8, "layer2": 16}
    assert host.topology is Topology.CNN and host.blueprint_kwargs() == {"spatial_dims": 2}
    tokens = graft(_net("tokens"), {"mix2": 7, "embed": None})
    assert tokens.injection_points() == {"embed": 16, "mix2": 7}
    assert tokens.topology is Topology.TRANSFORMER and tokens.blueprint_kwargs() == {}
    untraced = graft(_net("gated"), ["mix2", "embed"])  # no graph: named_modules order
    assert list(untraced.injection_points()) == ["embed", "mix2"]
    nested = graft(_net("resnet"), ["layer1", "layer1.0.conv1"])  # the inner one ends first
    assert list(nested.injection_points()) == ["layer1/0/conv1", "layer1"]


def test_topology_is_inferred_given_or_refused_and_1d_convs_say_so() -> None:
    conv1d = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Conv1d(4, 6, 3))
    assert graft(conv1d, ["2"]).blueprint_kwargs() == {"spatial_dims": 1}
    assert graft(conv1d, ["2"], topology="transformer").topology is Topology.TRANSFORMER
    with pytest.raises(UnknownChoiceError, match="did you mean 'cnn'") as error:
        graft(conv1d, ["2"], topology="cnnn")
    assert "'transformer'" in _message(error)


class PatchTokens(TokenNet):
    """A ViT in small: a patch-embedding conv makes tokens for token layers."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv1d(1, 16, 4, stride=4)

    def forward(self, x: Tensor) -> Tensor:  # x: (N, 1, L) -> tokens (N, L / 4, 16)
        return self.head(self.mix2(self.mix1(self.patch(x).transpose(1, 2))).mean(dim=1))


def test_topology_is_read_from_the_points_own_layers() -> None:
    # The patch conv would make the whole module look like a CNN; its points are token layers.
    with seeded_init(0):
        vit = PatchTokens().eval()
    host = graft(vit, ["mix1", "mix2"])
    assert host.topology is Topology.TRANSFORMER
    model = MorphogeneticModel(host).eval()
    model.germinate("mix1", "lora")
    x = torch.randn(2, 1, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), vit(x))
    assert graft(_net("resnet"), ["bn1"]).topology is Topology.CNN  # a BatchNorm2d says so
    with pytest.raises(GraftError, match="disagree") as error:
        graft(_net("resnet"), ["layer2", "fc"])
    assert "'layer2': cnn" in _message(error) and "topology='transformer'" in _message(error)


@pytest.mark.parametrize("points", [["layer1", "layer2"], ["layer1.0.conv1"], ["bn1"]])
def test_grafted_model_is_the_untouched_model_at_birth(points: list[str]) -> None:
    net, x = _net("resnet"), _input("resnet")
    untouched = copy.deepcopy(net)
    model = MorphogeneticModel(graft(net, points)).eval()
    with torch.no_grad():
        expected = untouched(x)
        assert torch.equal(model.host(x), expected)  # slots=None
        assert torch.equal(model(x), expected)  # every slot dormant
        for slot in model.iter_slots():
            model.germinate(slot.slot_id, "conv_light")
        assert torch.equal(model(x), expected)
        model.advance_lifecycle()  # TRAINING: incubator mode, the value is h exactly
        assert torch.equal(model(x), expected)
    assert all(not m._forward_hooks for m in net.modules())  # hooks live for one call only


def test_can_cut_at_block_boundaries_not_inside_a_residual_block() -> None:
    host = graft(_net("resnet"), ["layer1", "layer2"])
    assert host.can_cut("layer1") and host.can_cut("layer2")
    inside = graft(_net("resnet"), ["layer1.0.conv1", "layer2"])
    assert not inside.can_cut("layer1/0/conv1") and inside.can_cut("layer2")
    assert "skip" in inside.cut_report()["layer1/0/conv1"]
    with pytest.raises(NotImplementedError, match=r"layer1\.0\.conv1"):
        inside.forward_from("layer1/0/conv1", _input("resnet"))
    untraced = graft(_net("gated"), ["mix1"])
    assert not untraced.can_cut("mix1") and "torch.fx" in untraced.cut_report()["mix1"]
    with pytest.raises(UnknownChoiceError, match="did you mean 'layer2'"):
        host.can_cut("layer3")


# ----------------------------------------------------------------------------- counterfactuals
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stage", LIVE)
@pytest.mark.parametrize("alpha", [None, 0.4])
def test_counterfactuals_equal_one_full_pass_per_slot(
    case: str, stage: SeedStage, alpha: float | None
) -> None:
    model, x = _grown(case, stage), _input(CASES[case][0], batch=5)
    a = contribution_alpha(stage) if alpha is None else alpha
    alphas = dict.fromkeys(model.slots, a)
    with torch.no_grad():
        logits, counterfactuals = model.forward_counterfactuals(x, alphas)
        assert torch.equal(logits, model(x))
        assert list(counterfactuals) == list(alphas)
        for slot_id in alphas:
            with model.counterfactual({slot_id: a}):
                assert torch.equal(counterfactuals[slot_id], model(x)), slot_id
            with model.switched_off(slot_id):
                off = model(x)
            assert torch.equal(model.forward_counterfactuals(x, {slot_id: 0.0})[1][slot_id], off)


def test_suffix_serves_cuttable_points_and_full_passes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, x = _grown("boundaries", SeedStage.FOSSILIZED), _input("resnet")
    restarts: list[str] = []
    real = GraftedHost.forward_from

    def spy(self: GraftedHost, slot_id: str, h: Tensor, slots: object = None) -> Tensor:
        restarts.append(slot_id)
        return real(self, slot_id, h, slots)

    monkeypatch.setattr(GraftedHost, "forward_from", spy)
    assert model.host.can_cut("bn1")  # by the graph, but the in-place ReLU after it changes
    with torch.no_grad():  # the fossilized seed's recorded output there: a full pass instead
        _, counterfactuals = model.forward_counterfactuals(x, dict.fromkeys(model.slots, 0.4))
        with model.counterfactual({"bn1": 0.4}):
            assert torch.equal(counterfactuals["bn1"], model(x))
    assert restarts == ["layer1", "layer2"]
    suffix = model.host._trace().suffixes["layer1"]  # it calls the module's own layer2 (and
    assert suffix.get_submodule("layer2") is model.host.module.layer2  # so its slot's hook)
    assert "layer1" not in dict(suffix.named_children())


# ----------------------------------------------------------------------------- training, copies
def test_train_step_moves_host_and_seed_and_copies_round_trip() -> None:
    net = _net("resnet")
    own = {f"module.{k}" for k in net.state_dict()}
    model = MorphogeneticModel(graft(net, ["layer1", "layer2"]), seed=0)
    model.germinate("layer1", "conv_light")
    model.advance_lifecycle()
    seed = model.slot("layer1").seed
    before = [p.detach().clone() for p in (*net.parameters(), *seed.parameters())]
    x, y = _input("resnet"), torch.arange(4)
    for _ in range(2):
        assert torch.isfinite(torch.tensor(model.train_step(x, y).loss))
    after = [*net.parameters(), *seed.parameters()]
    assert not torch.equal(before[0], after[0])  # host
    assert any(not torch.equal(b, a) for b, a in zip(before[-2:], after[-2:], strict=True))
    model.eval()
    with torch.no_grad():
        model.forward_counterfactuals(x, {"layer1": 1.0, "layer2": 0.0})  # fills the fx cache
        out = model(x)
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert torch.equal(clone(x), out)
            assert torch.equal(
                clone.forward_counterfactuals(x, {"layer1": 1.0})[1]["layer1"],
                model.forward_counterfactuals(x, {"layer1": 1.0})[1]["layer1"],
            )
    assert set(model.host.state_dict()) == own
    assert sum(p.numel() for p in model.host.parameters()) == sum(
        p.numel() for p in net.parameters()
    )


def test_grafted_seeds_follow_the_memory_governor() -> None:
    model = MorphogeneticModel(
        graft(_net("tokens"), ["mix1", "mix2"]), governor=MemoryGovernor(lambda _device: 0.95)
    )
    model.germinate("mix1", "mlp")
    model.advance_lifecycle()
    assert not model.slot("mix1").seed.use_checkpoint
    model.train_step(_input("tokens"), torch.arange(4))
    assert model.governor.checkpointing and model.slot("mix1").seed.use_checkpoint
    model.germinate("mix2", "attention")
    assert model.slot("mix2").seed.use_checkpoint


# ----------------------------------------------------------------------------- bad input
VALID = "'fc' (21 submodules in all"  # the closest names, then the children


@pytest.mark.parametrize(
    ("points", "expected", "choices"),
    [
        (["layr1"], "unknown graft point 'layr1' in TinyResNet; did you mean 'layer1'?", VALID),
        (["layer1/0/cnv1"], "did you mean 'layer1.0.conv1'? Valid points: 'layer1.0.conv1'", VALID),
        ([""], "the root module itself ('') cannot be a graft point", "'layer1', 'layer2', 'fc'"),
        (["layer1", "layer1"], "duplicate graft point 'layer1'", "points given: 'layer1'"),
        (["layer1.0", "layer1/0"], "duplicate graft point 'layer1.0'", "given: 'layer1.0', "),
        ([], "graft needs at least one point", "'layer1', 'layer2', 'fc'"),
        ({"layer1": 0}, "dimension of point 'layer1' must be a positive int", "got 0"),
        ({"layer1": True}, "must be a positive int", "got True"),
        (["relu"], "cannot infer the feature dimension of point 'relu'", '{"relu": <dim>}'),
    ],
)
def test_bad_points_raise_one_line_naming_the_choices(
    points: object, expected: str, choices: str
) -> None:
    with pytest.raises(GraftError) as error:
        graft(_net("resnet"), points)  # type: ignore[arg-type]
    text = _message(error)
    assert expected in text and choices in text


def test_big_models_list_the_closest_names_and_the_children() -> None:
    net = nn.Sequential(*(nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(10)))
    with pytest.raises(GraftError, match=r"did you mean '9\.0'") as error:
        graft(net, ["9.00"])
    assert "'9.0'" in _message(error) and "30 submodules in all" in _message(error)


def test_not_a_module_is_refused() -> None:
    with pytest.raises(GraftError, match=r"needs a torch\.nn\.Module, got list"):
        graft([nn.Linear(2, 2)], ["0"])  # type: ignore[arg-type]


def test_a_point_whose_output_is_not_a_tensor_is_named_with_the_tensor_ones() -> None:
    net = Recurrent()
    with pytest.raises(GraftError, match='pass a mapping \\{"lstm": <dim>\\}'):
        graft(net, ["lstm"])
    host = graft(net, {"lstm": 16})
    with pytest.raises(GraftError) as error:
        host(_input("tokens"))
    assert _message(error) == (
        "output of point 'lstm' is a tuple, not a tensor; "
        "points whose output is a tensor: 'embed', 'head'"
    )
    assert all(not m._forward_hooks for m in net.modules())
