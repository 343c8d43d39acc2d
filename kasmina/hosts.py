"""Host networks: the fixed backbones whose injection points hold seed slots.

A host's ``forward(x, slots)`` calls ``slots[slot_id](h)`` at each injection point it declares,
so the same host runs bare (``slots=None``) or inside a :class:`MorphogeneticModel`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from kasmina.blueprints.cnn import group_norm
from kasmina.blueprints.registry import Topology
from kasmina.errors import InvalidValueError, UnknownChoiceError

SlotFn = Callable[[Tensor], Tensor]


class HostNetwork(nn.Module, ABC):
    """A backbone that declares its injection points (slot id -> feature width)."""

    topology: Topology

    @abstractmethod
    def injection_points(self) -> dict[str, int]:
        """Slot ids in forward order, each with the feature width a seed there sees."""

    def blueprint_kwargs(self) -> dict[str, object]:
        """Keyword arguments every blueprint germinated into this host needs (e.g. 1-D maps)."""
        return {}

    def forward_from(
        self, slot_id: str, h: Tensor, slots: Mapping[str, SlotFn] | None = None
    ) -> Tensor:
        """The rest of ``forward`` from injection point ``slot_id`` on, given its input ``h``.

        ``h`` is what the block before ``slot_id`` produced; the result is the slot, every later
        block and slot, and the head. Nothing before a slot depends on it, so a pass that only
        changes slot ``slot_id`` (a counterfactual) can reuse the features of a plain pass: the
        result is bit-identical to ``forward`` with the same ``slots``. Hosts that do not
        implement it raise ``NotImplementedError`` (callers then run full passes).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement forward_from")

    def can_cut(self, slot_id: str) -> bool:
        """Whether :meth:`forward_from` can restart at ``slot_id`` (else counterfactuals there
        run full passes). By default: at every slot if the host implements ``forward_from``,
        at none otherwise; hosts that can restart at only some slots override it."""
        return type(self).forward_from is not HostNetwork.forward_from

    def _point_index(self, slot_id: str) -> int:
        points = list(self.injection_points())
        if slot_id not in points:
            raise UnknownChoiceError("slot", slot_id, points, context="for this host")
        return points.index(slot_id)

    @staticmethod
    def _through_slot(slots: Mapping[str, SlotFn] | None, slot_id: str, h: Tensor) -> Tensor:
        return slots[slot_id](h) if slots is not None and slot_id in slots else h


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _norm_layer(kind: str, channels: int, spatial_dims: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm1d if spatial_dims == 1 else nn.BatchNorm2d)(channels)
    if kind == "group":
        return group_norm(channels)
    if kind == "none":
        return nn.Identity()
    raise UnknownChoiceError("norm", kind, ["batch", "group", "none"])


class CNNHost(HostNetwork):
    """A plain CNN for 1-D (N, C, L) or 2-D (N, C, H, W) inputs with a slot after every block.

    stem conv -> [conv, norm, ReLU] per width (stride 2 from the second block on when
    ``downsample``) -> global average pool -> linear classifier.

    Args:
        in_channels: Input channels.
        num_classes: Output classes.
        widths: Channels of each block; one injection point ``block{i}`` per block.
        spatial_dims: 1 for sequences, 2 for images.
        kernel: Convolution width.
        norm: ``"batch"`` (default), ``"group"`` or ``"none"`` inside the host's own blocks.
        downsample: Halve the spatial size at every block after the first.
    """

    topology = Topology.CNN

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (16, 32),
        *,
        spatial_dims: int = 2,
        kernel: int = 3,
        norm: str = "batch",
        downsample: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2):
            raise UnknownChoiceError("spatial_dims", spatial_dims, ["1", "2"])
        widths = [_positive("CNNHost widths", w) for w in widths]
        if not widths:
            raise InvalidValueError("CNNHost needs at least one block width")
        _positive("in_channels", in_channels)
        _positive("num_classes", num_classes)
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        self.spatial_dims = spatial_dims
        self.widths = tuple(widths)
        self.blocks = nn.ModuleList()
        prev = in_channels
        for i, width in enumerate(widths):
            stride = 2 if downsample and i > 0 else 1
            self.blocks.append(
                nn.Sequential(
                    conv(
                        prev, width, kernel, stride=stride, padding=kernel // 2, bias=norm == "none"
                    ),
                    _norm_layer(norm, width, spatial_dims),
                    nn.ReLU(),
                )
            )
            prev = width
        self.head = nn.Linear(prev, num_classes)

    def injection_points(self) -> dict[str, int]:
        return {f"block{i}": w for i, w in enumerate(self.widths)}

    def blueprint_kwargs(self) -> dict[str, object]:
        return {"spatial_dims": self.spatial_dims}

    def forward(self, x: Tensor, slots: Mapping[str, SlotFn] | None = None) -> Tensor:
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                f"CNNHost({self.spatial_dims}-D) expects input with "
                f"{self.spatial_dims + 2} dims, got shape {tuple(x.shape)}"
            )
        return self.forward_from("block0", self.blocks[0](x), slots)

    def forward_from(
        self, slot_id: str, h: Tensor, slots: Mapping[str, SlotFn] | None = None
    ) -> Tensor:
        start = self._point_index(slot_id)
        h = self._through_slot(slots, slot_id, h)
        for i in range(start + 1, len(self.blocks)):
            h = self._through_slot(slots, f"block{i}", self.blocks[i](h))
        return self.head(h.mean(dim=tuple(range(2, h.dim()))))


class _EncoderLayer(nn.Module):
    """A pre-norm transformer encoder layer (attention + 4x MLP)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TransformerHost(HostNetwork):
    """A small pre-norm transformer classifier over a sequence, with a slot after every layer.

    input projection + learned positions -> encoder layers -> LayerNorm -> mean pool -> linear.

    Args:
        in_features: Features per token (an input (N, T) is read as one feature per token).
        num_classes: Output classes.
        seq_len: Sequence length T (the positional embedding's size).
        dim: Embedding width; every injection point ``layer{i}`` has this width.
        layers: Encoder layers.
        heads: Attention heads; must divide ``dim``.
    """

    topology = Topology.TRANSFORMER

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        seq_len: int,
        *,
        dim: int = 32,
        layers: int = 2,
        heads: int = 2,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("num_classes", num_classes),
            ("seq_len", seq_len),
            ("dim", dim),
            ("layers", layers),
            ("heads", heads),
        ):
            _positive(f"TransformerHost {name}", value)
        if dim % heads:
            raise InvalidValueError(f"TransformerHost heads ({heads}) must divide dim ({dim})")
        self.dim, self.seq_len, self.in_features = dim, seq_len, in_features
        self.embed = nn.Linear(in_features, dim)
        self.pos = nn.Parameter(torch.randn(1, seq_len, dim) * 0.02)
        self.layers = nn.ModuleList(_EncoderLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def injection_points(self) -> dict[str, int]:
        return {f"layer{i}": self.dim for i in range(len(self.layers))}

    def forward(self, x: Tensor, slots: Mapping[str, SlotFn] | None = None) -> Tensor:
        if x.dim() == 2 and self.in_features == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 3 or x.shape[1:] != (self.seq_len, self.in_features):
            raise ValueError(
                f"TransformerHost expects input (N, {self.seq_len}, "
                f"{self.in_features}), got shape {tuple(x.shape)}"
            )
        return self.forward_from("layer0", self.layers[0](self.embed(x) + self.pos), slots)

    def forward_from(
        self, slot_id: str, h: Tensor, slots: Mapping[str, SlotFn] | None = None
    ) -> Tensor:
        start = self._point_index(slot_id)
        h = self._through_slot(slots, slot_id, h)
        for i in range(start + 1, len(self.layers)):
            h = self._through_slot(slots, f"layer{i}", self.layers[i](h))
        return self.head(self.norm(h).mean(dim=1))
