import pytest
import torch
from torch import nn

from kasmina import (
    BlueprintRegistry,
    KasminaError,
    Registry,
    SeedModule,
    UnexpectedKeywordError,
    UnknownChoiceError,
)
from kasmina.blueprints.transformer import MLPSeed

CNN_NAMES = {"noop", "norm", "attention", "depthwise", "bottleneck", "conv_light", "conv_heavy"}
TRANSFORMER_NAMES = {"noop", "norm", "lora", "attention", "mlp_small", "mlp"}


def test_builtin_blueprints_are_registered():
    assert set(BlueprintRegistry.names("cnn")) == CNN_NAMES
    assert set(BlueprintRegistry.names("transformer")) == TRANSFORMER_NAMES


@pytest.mark.parametrize(
    "topology,dim,kwargs",
    [("cnn", 32, {"spatial_dims": 2}), ("cnn", 32, {"spatial_dims": 1}), ("transformer", 64, {})],
)
def test_list_is_sorted_by_counted_parameters(topology, dim, kwargs):
    specs = BlueprintRegistry.list(topology, dim=dim, **kwargs)
    counts = [s.param_count(dim, **kwargs) for s in specs]
    assert counts == sorted(counts)
    for spec, count in zip(specs, counts, strict=True):
        built = BlueprintRegistry.create(topology, spec.name, dim, **kwargs)
        assert count == sum(p.numel() for p in built.parameters()), spec.name


def test_param_count_matches_known_formula():
    # LayerNorm (2d) + fc1 (d*4d + 4d) + fc2 (4d*d + d)
    d = 256
    assert BlueprintRegistry.spec("transformer", "mlp").param_count(d) == 2 * d + 8 * d * d + 5 * d
    assert BlueprintRegistry.spec("transformer", "lora").param_count(d) == 2 * 8 * d
    assert BlueprintRegistry.spec("cnn", "noop").param_count(d) == 0


def test_list_filters_in_one_call():
    capable = BlueprintRegistry.list("transformer", dim=64, supports_checkpoint=True)
    assert {s.name for s in capable} == {"attention", "mlp_small", "mlp"}
    small = BlueprintRegistry.list("cnn", dim=64, max_params=2500)
    assert {s.name for s in small} == {"noop", "norm", "attention"}
    both = BlueprintRegistry.list(dim=16)
    assert len(both) == len(CNN_NAMES) + len(TRANSFORMER_NAMES)


def test_create_mlp_with_checkpoint():
    seed = BlueprintRegistry.create("transformer", "mlp", 256, checkpoint=True)
    assert isinstance(seed, MLPSeed)
    assert seed.use_checkpoint


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownChoiceError, match="did you mean 'mlp'") as info:
        BlueprintRegistry.create("transformer", "mpl", 256)
    assert info.value.suggestion == "mlp"
    assert "mlp_small" in str(info.value) and "lora" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_topology_suggests_closest():
    with pytest.raises(UnknownChoiceError, match="did you mean 'transformer'"):
        BlueprintRegistry.create("transfomer", "mlp", 256)


def test_unknown_keyword_names_blueprint_and_accepted_keywords():
    with pytest.raises(UnexpectedKeywordError) as info:
        BlueprintRegistry.create("transformer", "mlp", 256, checkpint=True)
    message = str(info.value)
    assert "transformer/mlp" in message
    assert "'checkpoint'" in message and "'expansion'" in message
    assert "did you mean 'checkpoint'" in message
    with pytest.raises(UnexpectedKeywordError, match="transformer/lora"):
        BlueprintRegistry.create("transformer", "lora", 64, checkpoint=True)


@pytest.mark.parametrize("dim", [0, -3, 2.5, True])
def test_bad_dim_raises(dim):
    with pytest.raises(KasminaError, match="positive int"):
        BlueprintRegistry.create("cnn", "norm", dim)


def test_register_twice_raises_and_description_from_docstring():
    registry = Registry()

    @registry.register("transformer", "scaled")
    class Scaled(SeedModule):
        """Multiplies by a learned scalar that starts at zero."""

        def __init__(self, dim: int, *, checkpoint: bool = False) -> None:
            super().__init__(checkpoint=checkpoint, checkpointable=True)
            self.scale = nn.Parameter(torch.zeros(()))

        def residual(self, x):
            return x * self.scale

    spec = registry.spec("transformer", "scaled")
    assert spec.description.startswith("Multiplies")
    assert spec.supports_checkpoint
    assert spec.param_count(8) == 1
    with pytest.raises(KasminaError, match="already registered"):
        registry.register("transformer", "scaled")(Scaled)
    with pytest.raises(UnknownChoiceError):
        registry.spec("cnn", "scaled")


def test_register_needs_description():
    registry = Registry()
    with pytest.raises(KasminaError, match="description"):
        registry.register("cnn", "anon")(lambda dim: nn.Identity())


def test_checkpoint_support_matches_module():
    for spec in BlueprintRegistry.list(dim=16):
        module = BlueprintRegistry.create(spec.topology, spec.name, 16)
        assert getattr(module, "checkpointable", False) == spec.supports_checkpoint, spec.name


def test_list_leaves_out_blueprints_unbuildable_at_dim():
    names = {s.name for s in BlueprintRegistry.list("transformer", dim=30)}
    assert "attention" not in names  # 4 heads do not divide 30
    assert {"mlp", "lora", "norm"} <= names


def test_unexpected_keyword_error_survives_being_rebuilt_from_its_message():
    # gymnasium.make re-raises TypeErrors from an env constructor as type(e)(message).
    original = UnexpectedKeywordError("GrowthEnv", ["budgte"], ["budget"])
    rebuilt = type(original)(f"{original} was raised from the environment creator")
    assert "did you mean 'budget'" in str(rebuilt) and isinstance(rebuilt, TypeError)
