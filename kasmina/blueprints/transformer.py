"""Transformer blueprints: residual seeds for token features of shape (N, T, D).

Every blueprint is pre-norm (LayerNorm inside the residual branch) with a zero-initialised output
projection, so ``seed(x) == x`` exactly at germination.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from kasmina.blueprints.base import NoopSeed, SeedModule
from kasmina.blueprints.registry import BlueprintRegistry
from kasmina.errors import InvalidValueError


def zero_linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """A linear layer whose weight (and bias) start at zero: the residual starts at zero."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.zeros_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def _check_tokens(module: nn.Module, x: Tensor, dim: int) -> None:
    if x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(
            f"{type(module).__name__}(dim={dim}) expects input (N, T, {dim}), "
            f"got shape {tuple(x.shape)}"
        )


@BlueprintRegistry.register("transformer", "noop")
def transformer_noop(dim: int) -> NoopSeed:
    """Identity; no parameters. The control blueprint: growth that adds nothing."""
    return NoopSeed(dim)


@BlueprintRegistry.register("transformer", "norm")
class LayerNormSeed(SeedModule):
    """x + LayerNorm(x) with a zero-initialised affine: a learned re-normalisation."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.norm = nn.LayerNorm(dim)
        nn.init.zeros_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def residual(self, x: Tensor) -> Tensor:
        _check_tokens(self, x, self.dim)
        return self.norm(x)


@BlueprintRegistry.register("transformer", "lora")
class LoRASeed(SeedModule):
    """Low-rank adapter x + (alpha/rank) * B(A(x)), B zero-initialised (rank 8 by default)."""

    def __init__(self, dim: int, *, rank: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        if not 1 <= rank <= dim:
            raise InvalidValueError(f"lora rank must be in [1, {dim}] for dim {dim}, got {rank}")
        self.dim = dim
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = zero_linear(rank, dim, bias=False)
        self.scale = alpha / rank

    def residual(self, x: Tensor) -> Tensor:
        _check_tokens(self, x, self.dim)
        return self.up(self.down(x)) * self.scale


@BlueprintRegistry.register("transformer", "attention")
class AttentionSeed(SeedModule):
    """Pre-norm multi-head self-attention with a zero-initialised output projection."""

    def __init__(
        self, dim: int, *, heads: int = 4, causal: bool = False, checkpoint: bool = False
    ) -> None:
        super().__init__(checkpoint=checkpoint, checkpointable=True)
        if heads < 1 or dim % heads:
            valid = [h for h in range(1, dim + 1) if dim % h == 0 and h <= 64]
            raise InvalidValueError(
                f"attention heads must divide dim {dim}, got {heads}; valid choices: {valid}"
            )
        self.dim, self.heads, self.causal = dim, heads, causal
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = zero_linear(dim, dim)

    def residual(self, x: Tensor) -> Tensor:
        _check_tokens(self, x, self.dim)
        n, t, d = x.shape
        qkv = self.qkv(self.norm(x)).view(n, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(attended.transpose(1, 2).reshape(n, t, d))


class _MLPSeed(SeedModule):
    def __init__(self, dim: int, expansion: int, checkpoint: bool) -> None:
        super().__init__(checkpoint=checkpoint, checkpointable=True)
        if expansion < 1:
            raise InvalidValueError(f"mlp expansion must be >= 1, got {expansion}")
        self.dim = dim
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.fc2 = zero_linear(expansion * dim, dim)

    def residual(self, x: Tensor) -> Tensor:
        _check_tokens(self, x, self.dim)
        return self.fc2(self.act(self.fc1(self.norm(x))))


@BlueprintRegistry.register("transformer", "mlp_small")
class MLPSmallSeed(_MLPSeed):
    """Pre-norm feed-forward block with 2x expansion, zero-initialised output layer."""

    def __init__(self, dim: int, *, expansion: int = 2, checkpoint: bool = False) -> None:
        super().__init__(dim, expansion, checkpoint)


@BlueprintRegistry.register("transformer", "mlp")
class MLPSeed(_MLPSeed):
    """Pre-norm feed-forward block with 4x expansion, zero-initialised output layer.

    Its activations (4x wider than the input) dominate a seed's memory: with ``checkpoint=True``
    only the input is kept and the block is recomputed during backward.
    """

    def __init__(self, dim: int, *, expansion: int = 4, checkpoint: bool = False) -> None:
        super().__init__(dim, expansion, checkpoint)
