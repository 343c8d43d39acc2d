"""CNN blueprints: residual seeds for feature maps of shape (N, C, L) or (N, C, H, W).

One implementation serves 1-D and 2-D maps: each factory takes ``spatial_dims`` (1 or 2; the
host's slot passes its own). Seeds use GroupNorm, never BatchNorm: it is independent of the
batch size and has no running statistics that a checkpoint recomputation or a counterfactual
pass could disturb.
"""

from __future__ import annotations

from torch import Tensor, nn

from kasmina.blueprints.base import NoopSeed, SeedModule
from kasmina.blueprints.registry import BlueprintRegistry
from kasmina.errors import UnknownChoiceError

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}


def conv(
    spatial_dims: int, c_in: int, c_out: int, kernel: int = 1, groups: int = 1, zero: bool = False
) -> nn.Module:
    """A same-padding convolution of the right dimensionality; ``zero`` zero-initialises it."""
    if spatial_dims not in _CONV:
        raise UnknownChoiceError("spatial_dims", spatial_dims, [str(d) for d in _CONV])
    layer = _CONV[spatial_dims](c_in, c_out, kernel, padding=kernel // 2, groups=groups)
    if zero:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    return layer


def group_norm(channels: int, zero: bool = False) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (the largest divisor of ``channels`` not above 8)."""
    groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
    norm = nn.GroupNorm(groups, channels)
    if zero:
        nn.init.zeros_(norm.weight)
        nn.init.zeros_(norm.bias)
    return norm


def _check_map(module: nn.Module, x: Tensor, spatial_dims: int) -> None:
    if x.dim() != spatial_dims + 2:
        raise ValueError(
            f"{type(module).__name__} built for {spatial_dims}-D maps expects a "
            f"{spatial_dims + 2}-D input (N, C, ...), got shape {tuple(x.shape)}"
        )


@BlueprintRegistry.register("cnn", "noop")
def cnn_noop(dim: int, *, spatial_dims: int = 2) -> NoopSeed:
    """Identity; no parameters. The control blueprint: growth that adds nothing."""
    return NoopSeed(dim)


@BlueprintRegistry.register("cnn", "norm")
class NormSeed(SeedModule):
    """x + GroupNorm(x) with a zero-initialised affine: learns a per-channel re-normalisation."""

    def __init__(self, dim: int, *, spatial_dims: int = 2) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.norm = group_norm(dim, zero=True)

    def residual(self, x: Tensor) -> Tensor:
        _check_map(self, x, self.spatial_dims)
        return self.norm(x)


@BlueprintRegistry.register("cnn", "attention")
class SqueezeExciteSeed(SeedModule):
    """Squeeze-and-excitation channel attention: x + x * tanh(gate(mean(x))), gate zero-init.

    Not checkpoint-capable on purpose: its only large saved tensor is its input, which a
    checkpoint would keep as well, so checkpointing would cost recomputation and save nothing.
    """

    def __init__(self, dim: int, *, spatial_dims: int = 2, reduction: int = 4) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        hidden = max(dim // reduction, 4)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def residual(self, x: Tensor) -> Tensor:
        _check_map(self, x, self.spatial_dims)
        pooled = x.mean(dim=tuple(range(2, x.dim())))
        # tanh(0) == 0, so the zero-initialised gate makes the residual exactly zero.
        gate = self.fc2(self.act(self.fc1(pooled))).tanh()
        return x * gate.view(*gate.shape, *([1] * self.spatial_dims))


class _ConvBodySeed(SeedModule):
    """A checkpoint-capable CNN seed whose residual is ``self.body(x)`` (built by subclasses)."""

    def __init__(self, spatial_dims: int, body: list[nn.Module], checkpoint: bool) -> None:
        super().__init__(checkpoint=checkpoint, checkpointable=True)
        self.spatial_dims = spatial_dims
        self.body = nn.Sequential(*body)

    def residual(self, x: Tensor) -> Tensor:
        _check_map(self, x, self.spatial_dims)
        return self.body(x)


@BlueprintRegistry.register("cnn", "depthwise")
class DepthwiseSeed(_ConvBodySeed):
    """Depthwise 3-wide conv, GroupNorm, GELU, then a zero-initialised pointwise conv."""

    def __init__(
        self, dim: int, *, spatial_dims: int = 2, kernel: int = 3, checkpoint: bool = False
    ) -> None:
        super().__init__(
            spatial_dims,
            [
                conv(spatial_dims, dim, dim, kernel, groups=dim),
                group_norm(dim),
                nn.GELU(),
                conv(spatial_dims, dim, dim, 1, zero=True),
            ],
            checkpoint,
        )


@BlueprintRegistry.register("cnn", "bottleneck")
class BottleneckSeed(_ConvBodySeed):
    """ResNet bottleneck: 1x1 down by ``reduction``, 3x3, 1x1 up (zero-init), GroupNorm + GELU."""

    def __init__(
        self, dim: int, *, spatial_dims: int = 2, reduction: int = 4, checkpoint: bool = False
    ) -> None:
        mid = max(dim // reduction, 4)
        super().__init__(
            spatial_dims,
            [
                conv(spatial_dims, dim, mid, 1),
                group_norm(mid),
                nn.GELU(),
                conv(spatial_dims, mid, mid, 3),
                group_norm(mid),
                nn.GELU(),
                conv(spatial_dims, mid, dim, 1, zero=True),
            ],
            checkpoint,
        )


@BlueprintRegistry.register("cnn", "conv_light")
class ConvLightSeed(_ConvBodySeed):
    """Pre-activation GroupNorm, GELU and one zero-initialised full 3-wide conv."""

    def __init__(
        self, dim: int, *, spatial_dims: int = 2, kernel: int = 3, checkpoint: bool = False
    ) -> None:
        super().__init__(
            spatial_dims,
            [group_norm(dim), nn.GELU(), conv(spatial_dims, dim, dim, kernel, zero=True)],
            checkpoint,
        )


@BlueprintRegistry.register("cnn", "conv_heavy")
class ConvHeavySeed(_ConvBodySeed):
    """Two full 3-wide convs with GroupNorm and GELU (a ResNet basic block), last one zero-init."""

    def __init__(
        self, dim: int, *, spatial_dims: int = 2, kernel: int = 3, checkpoint: bool = False
    ) -> None:
        super().__init__(
            spatial_dims,
            [
                conv(spatial_dims, dim, dim, kernel),
                group_norm(dim),
                nn.GELU(),
                conv(spatial_dims, dim, dim, kernel, zero=True),
            ],
            checkpoint,
        )
