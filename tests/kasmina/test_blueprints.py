"""Blueprints on their own: exact identity at birth, learnability, and activation checkpointing."""

import pytest
import torch

from kasmina import BlueprintRegistry, KasminaError, seeded_init
from kasmina.profiling import saved_tensor_bytes

CNN = [s.name for s in BlueprintRegistry.list("cnn")]
TRANSFORMER = [s.name for s in BlueprintRegistry.list("transformer")]
CAPABLE = [(s.topology.value, s.name) for s in BlueprintRegistry.list(supports_checkpoint=True)]


def _input(topology: str, spatial_dims: int = 2, dim: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    maps = {1: (4, dim, 20), 2: (4, dim, 6, 6)}
    shape = maps[spatial_dims] if topology == "cnn" else (4, 10, dim)
    return torch.randn(*shape, generator=g)


def _kwargs(topology: str, spatial_dims: int) -> dict:
    return {"spatial_dims": spatial_dims} if topology == "cnn" else {}


@pytest.mark.parametrize("spatial_dims", [1, 2])
@pytest.mark.parametrize("name", CNN)
def test_cnn_blueprint_is_exact_identity_at_birth(name, spatial_dims):
    seed = BlueprintRegistry.create("cnn", name, 16, spatial_dims=spatial_dims).train()
    x = _input("cnn", spatial_dims)
    assert torch.equal(seed(x), x)


@pytest.mark.parametrize("name", TRANSFORMER)
def test_transformer_blueprint_is_exact_identity_at_birth(name):
    seed = BlueprintRegistry.create("transformer", name, 16).train()
    x = _input("transformer")
    assert torch.equal(seed(x), x)


@pytest.mark.parametrize(
    "topology,name",
    [
        (t, n)
        for t, names in (("cnn", CNN), ("transformer", TRANSFORMER))
        for n in names
        if n != "noop"
    ],
)
def test_blueprint_learns_away_from_identity(topology, name):
    with seeded_init(0):
        seed = BlueprintRegistry.create(topology, name, 16, **_kwargs(topology, 2))
    x = _input(topology)
    opt = torch.optim.SGD(seed.parameters(), lr=0.1)
    target = torch.randn_like(x, generator=torch.Generator().manual_seed(9))
    for _ in range(3):
        opt.zero_grad()
        ((seed(x) - target) ** 2).mean().backward()
        opt.step()
    assert not torch.allclose(seed(x), x), "the residual branch never received a gradient"


def test_cnn_blueprint_rejects_wrong_rank():
    seed = BlueprintRegistry.create("cnn", "conv_light", 16, spatial_dims=1)
    with pytest.raises(ValueError, match="3-D input"):
        seed(torch.zeros(2, 16, 4, 4))


def test_blueprint_argument_validation():
    with pytest.raises(KasminaError, match="must divide dim 30"):
        BlueprintRegistry.create("transformer", "attention", 30, heads=4)
    with pytest.raises(KasminaError, match="rank"):
        BlueprintRegistry.create("transformer", "lora", 4, rank=8)
    with pytest.raises(KasminaError, match="does not support"):
        BlueprintRegistry.create("transformer", "norm", 8).use_checkpoint = True


def _perturbed(topology: str, name: str, dim: int, spatial_dims: int = 2):
    """A blueprint whose zero-initialised layers have been moved, so gradients flow everywhere."""
    with seeded_init(1):
        seed = BlueprintRegistry.create(topology, name, dim, **_kwargs(topology, spatial_dims))
        for p in seed.parameters():
            p.data.add_(torch.randn_like(p) * 0.1)
    return seed.train()


@pytest.mark.parametrize("topology,name", CAPABLE)
@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_checkpointing_gives_identical_outputs_and_gradients(topology, name, input_requires_grad):
    seed = _perturbed(topology, name, 16)
    results = []
    for flag in (False, True):
        seed.use_checkpoint = flag
        x = _input(topology).requires_grad_(input_requires_grad)
        assert seed.checkpoint_active(x) == flag
        seed.zero_grad()
        out = seed(x)
        out.square().sum().backward()
        grads = [p.grad.clone() for p in seed.parameters()]
        results.append((out.detach(), grads, x.grad))
    (out0, g0, x0), (out1, g1, x1) = results
    assert torch.equal(out0, out1)
    for a, b in zip(g0, g1, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)
    if input_requires_grad:
        assert torch.allclose(x0, x1, atol=1e-6, rtol=0)


def test_checkpointing_is_skipped_in_eval_and_no_grad():
    seed = BlueprintRegistry.create("transformer", "mlp", 16, checkpoint=True)
    x = _input("transformer").requires_grad_()
    assert seed.checkpoint_active(x)
    with torch.no_grad():
        assert not seed.checkpoint_active(x)
    assert not seed.eval().checkpoint_active(x)


def test_checkpointing_memory_mlp_256_saves_3x_fewer_bytes():
    """Acceptance: mlp at dim 256 on (4, 32, 256) saves >= 3x fewer bytes for backward."""
    seed = _perturbed("transformer", "mlp", 256)
    x = torch.randn(4, 32, 256, generator=torch.Generator().manual_seed(0), requires_grad=True)
    measured = {}
    for flag in (False, True):
        seed.use_checkpoint = flag
        seed.zero_grad()
        x.grad = None
        out, nbytes = saved_tensor_bytes(lambda: seed(x), exclude=seed.parameters())
        out.square().sum().backward()
        measured[flag] = (
            nbytes,
            out.detach(),
            [p.grad.clone() for p in seed.parameters()],
            x.grad.clone(),
        )
    plain, ckpt = measured[False], measured[True]
    # Without: LayerNorm input and output, fc1 output, GELU output (~1.25 MiB); with: the input.
    assert plain[0] >= 1_200_000
    assert ckpt[0] > 0, "the checkpoint's retained input must be counted, not hidden"
    assert plain[0] >= 3 * ckpt[0], f"saved {plain[0]} B plain vs {ckpt[0]} B checkpointed"
    assert torch.equal(plain[1], ckpt[1])
    for a, b in zip(plain[2], ckpt[2], strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert torch.allclose(plain[3], ckpt[3], atol=1e-6, rtol=0)


@pytest.mark.parametrize("topology,name", CAPABLE)
def test_checkpointing_reduces_saved_bytes_for_every_capable_blueprint(topology, name):
    seed = _perturbed(topology, name, 32)
    x = _input(topology, dim=32).requires_grad_()
    sizes = []
    for flag in (False, True):
        seed.use_checkpoint = flag
        _, nbytes = saved_tensor_bytes(lambda: seed(x), exclude=seed.parameters())
        sizes.append(nbytes)
    assert sizes[1] < sizes[0], f"{topology}/{name}: {sizes}"
