"""Seeds of one (slot, blueprint) across envs run as one grouped module.

At an injection point, the envs whose seeds share a blueprint (and shape) run them as one call:
their inputs are concatenated env-major along the channels and each layer runs once with its
members' parameters concatenated (convolutions with ``groups * members`` groups, GroupNorm with
``groups * members`` groups, GELU elementwise). Each member's output is then mixed into its
env's features by the member's own :meth:`~kasmina.SeedSlot.mix`, so TRAINING (incubator),
BLENDING, HOLDING and FOSSILIZED members and alpha overrides share one call. Per-channel
arithmetic is unchanged; only the kernels' summation order differs (float rounding).

Groupable: a seed whose residual is ``self.body``, an ``nn.Sequential`` of convolutions,
GroupNorm and GELU, not checkpointing now (every CNN blueprint but ``attention``). Anything
else runs through its own slot, as in the single env.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kasmina import SeedSlot

SeedKey = tuple[object, ...]

_CONVS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d}


def seed_key(slot: SeedSlot, x: Tensor) -> SeedKey | None:
    """What seeds must share to run grouped, or ``None`` if this one cannot be grouped."""
    seed = slot.seed
    body = getattr(seed, "body", None)
    if seed is None or not isinstance(body, nn.Sequential) or seed.checkpoint_active(x):
        return None
    layers: list[object] = [type(seed)]
    for layer in body:
        if type(layer) in _CONVS:
            layers.append(
                (
                    type(layer),
                    layer.weight.shape,
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    layer.groups,
                    layer.bias is not None,
                )
            )
        elif isinstance(layer, nn.GroupNorm):
            layers.append(
                (nn.GroupNorm, layer.num_groups, layer.num_channels, layer.eps, layer.affine)
            )
        elif isinstance(layer, nn.GELU):
            layers.append((nn.GELU, layer.approximate))
        else:
            return None
    return tuple(layers)


def run_group(slots: Sequence[SeedSlot], parts: Sequence[Tensor]) -> list[Tensor]:
    """Each slot's output on its input part, the seeds run as one grouped module."""
    inputs = [slot.seed_input(h, slot.alpha_override) for slot, h in zip(slots, parts, strict=True)]
    x = torch.cat(inputs, dim=1)
    bodies = [slot.seed.body for slot in slots]  # type: ignore[union-attr]
    out = x
    for i, layer in enumerate(bodies[0]):
        out = _layer(layer, [b[i] for b in bodies], out)
    seeded = (x + out).chunk(len(slots), dim=1)  # SeedModule.forward: input + residual
    return [
        slot.mix(h, s, slot.alpha_override) for slot, h, s in zip(slots, parts, seeded, strict=True)
    ]


def _layer(first: nn.Module, members: list[nn.Module], x: Tensor) -> Tensor:
    m = len(members)
    if type(first) in _CONVS:
        weight = torch.cat([layer.weight for layer in members])
        bias = torch.cat([layer.bias for layer in members]) if first.bias is not None else None
        return _CONVS[type(first)](
            x, weight, bias, first.stride, first.padding, first.dilation, first.groups * m
        )
    if isinstance(first, nn.GroupNorm):
        weight = torch.cat([layer.weight for layer in members]) if first.affine else None
        bias = torch.cat([layer.bias for layer in members]) if first.affine else None
        return F.group_norm(x, first.num_groups * m, weight, bias, first.eps)
    return F.gelu(x, approximate=first.approximate)  # type: ignore[attr-defined]
