"""graft: seed slots in any ``torch.nn.Module``, after named submodules.

``MorphogeneticModel(graft(net, ["layer2", "layer3"]))`` grows ``net`` as it grows the built-in
hosts. The module is kept as it is (a submodule of the host, its own parameters and nothing
else); each forward hooks the points for the duration of the call and routes their outputs
through the slots. For counterfactual passes, a ``torch.fx`` trace finds the points where the
point's output is all that crosses from before to after (a block boundary): there a suffix of
the graph restarts the model from the point. Points inside a residual block, or models that do
not trace, get full passes instead (:meth:`GraftedHost.cut_report` says why).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

from kasmina.blueprints.registry import Topology
from kasmina.errors import UserError, closest
from kasmina.graph_cut import Trace, forward_order, suffix, trace_points
from kasmina.hosts import HostNetwork, SlotFn

_Hook = Callable[[nn.Module, Any, Any], Tensor]

_LISTED = 12
"""How many names an error message lists before it abbreviates."""


class GraftError(UserError, ValueError):
    """A graft point that cannot hold a slot (unknown, duplicated, of unknown width, ...)."""


class _NotATensorError(Exception):
    """Raised by a point's hook, caught by :meth:`GraftedHost.forward` (never escapes)."""

    def __init__(self, name: str, output: object) -> None:
        super().__init__(name)
        self.name, self.output = name, output


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_LISTED]) or "(none)"
    return shown + (f", ... ({len(names) - _LISTED} more)" if len(names) > _LISTED else "")


def _valid_points(module: nn.Module, wrong: str = "") -> str:
    """The submodule names to offer: all of them for a small model, else the ones closest to
    ``wrong`` plus the top-level children (a one-line message, not a model dump)."""
    names = [n for n, _ in module.named_modules() if n]
    if len(names) <= _LISTED:
        return _listing(names)
    near = difflib.get_close_matches(wrong, names, n=5, cutoff=0.5) if wrong else []
    top = [n for n, _ in module.named_children() if n not in near]
    return f"{_listing(near + top)} ({len(names)} submodules in all: see module.named_modules())"


def _resolve(module: nn.Module, point: object, names: set[str]) -> str:
    """``point`` as a ``named_modules`` name, accepting the slot-id spelling ("/" for ".")."""
    if point == "":
        raise GraftError(
            f"the root module itself ('') cannot be a graft point (its output is the model's "
            f"output); choose a submodule: {_valid_points(module)}"
        )
    text = str(point)
    for candidate in (text, text.replace("/", ".")):
        if candidate in names:
            return candidate
    hint = f"; did you mean {s!r}?" if (s := closest(text.replace("/", "."), names)) else ""
    raise GraftError(
        f"unknown graft point {text!r} in {type(module).__name__}{hint} "
        f"Valid points: {_valid_points(module, text)}"
    )


def _dim_of(m: nn.Module) -> int | None:
    if isinstance(m, _ConvNd):
        return m.out_channels
    if isinstance(m, _NormBase):
        return m.num_features
    if isinstance(m, nn.GroupNorm):
        return m.num_channels
    if isinstance(m, nn.LayerNorm):
        return m.normalized_shape[-1]
    if isinstance(m, nn.Linear):
        return m.out_features
    return m.embedding_dim if isinstance(m, nn.Embedding) else None


def _infer_dim(name: str, sub: nn.Module) -> int:
    """The width of ``sub``'s output: that of the last-registered layer that declares one."""
    for m in reversed(list(sub.modules())):
        if (dim := _dim_of(m)) is not None:
            return dim
    raise GraftError(
        f"cannot infer the feature dimension of point {name!r} ({type(sub).__name__} has no "
        f'conv, norm, linear or embedding layer); pass a mapping {{"{name}": <dim>}}'
    )


def _positive_dim(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GraftError(f"dimension of point {name!r} must be a positive int, got {value!r}")
    return value


def _points(module: nn.Module, points: Sequence[str] | Mapping[str, int | None]) -> dict[str, int]:
    """``{module name: dim}`` for the requested points, validated, in the order given."""
    requested = [points] if isinstance(points, str) else points
    if not requested:
        raise GraftError(f"graft needs at least one point; valid points: {_valid_points(module)}")
    names = {n for n, _ in module.named_modules() if n}
    out: dict[str, int] = {}
    for point in requested:
        name = _resolve(module, point, names)
        if name in out:
            raise GraftError(
                f"duplicate graft point {name!r}: each point holds one slot; "
                f"points given: {_listing(list(dict.fromkeys(map(str, requested))))}"
            )
        given = points.get(point) if isinstance(points, Mapping) else None
        sub = module.get_submodule(name)
        out[name] = _infer_dim(name, sub) if given is None else _positive_dim(name, given)
    return out


_CNN_LAYERS = (nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
_TOKEN_LAYERS = (nn.LayerNorm, nn.MultiheadAttention, nn.Linear, nn.Embedding)


def _kind(sub: nn.Module) -> Topology | None:
    """What a point's own layers say its features are: conv maps or tokens (None: no clue)."""
    layers = list(sub.modules())
    if any(isinstance(m, _CNN_LAYERS) for m in layers):
        return Topology.CNN
    if any(isinstance(m, _TOKEN_LAYERS) for m in layers):
        return Topology.TRANSFORMER
    return None


def _topology(
    module: nn.Module, topology: Topology | str | None, points: Sequence[str] = ()
) -> tuple[Topology, int]:
    """The topology and the spatial dims of conv features.

    Given, or read from the points' own layers (a ViT's points are encoder layers, though its
    patch embedding is a conv); where they say nothing, CNN if the module has a 1-D/2-D conv.
    """
    convs = [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    dims = 1 if convs and isinstance(convs[0], nn.Conv1d) else 2
    if topology is not None:
        return Topology.parse(topology), dims
    kinds = {p: _kind(module.get_submodule(p)) for p in points}
    known = {k for k in kinds.values() if k is not None}
    if len(known) > 1:
        said = ", ".join(f"{p!r}: {k}" for p, k in kinds.items() if k is not None)
        raise GraftError(
            f"graft points disagree on their features ({said}); pass topology='cnn' or "
            "topology='transformer'"
        )
    if known:
        return known.pop(), dims
    return (Topology.CNN if convs else Topology.TRANSFORMER), dims


def _tensor_outputs(module: nn.Module, x: Tensor) -> list[str]:
    """The submodules whose output is a tensor on ``x``, in the order they finish (one
    recorded pass, buffers restored: only for the error message of a non-tensor point)."""
    found: list[str] = []
    saved = {k: b.clone() for k, b in module.named_buffers()}
    handles = [
        sub.register_forward_hook(
            lambda _m, _a, out, name=name: found.append(name) if isinstance(out, Tensor) else None
        )
        for name, sub in module.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for k, b in module.named_buffers():
                b.copy_(saved[k])
    return list(dict.fromkeys(found))


class GraftedHost(HostNetwork):
    """A user's module with seed slots after named submodules; build it with :func:`graft`.

    ``state_dict`` is the module's own under the prefix ``module.``: the fx traces and suffixes
    live in a plain cache, rebuilt on demand, never pickled or copied.
    """

    def __init__(
        self, module: nn.Module, points: Mapping[str, int], topology: Topology, spatial_dims: int
    ) -> None:
        super().__init__()
        self.module, self.topology, self.spatial_dims = module, topology, spatial_dims
        trace = trace_points(module, list(points))
        object.__setattr__(self, "_fx", {module.training: trace})
        names = forward_order(module, list(points), trace)
        self._names = {name.replace(".", "/"): name for name in names}
        self._dims = {slot_id: points[name] for slot_id, name in self._names.items()}

    def injection_points(self) -> dict[str, int]:
        return dict(self._dims)

    def blueprint_kwargs(self) -> dict[str, object]:
        return {"spatial_dims": self.spatial_dims} if self.topology is Topology.CNN else {}

    def cut_report(self) -> dict[str, str | None]:
        """Per slot: None if counterfactuals restart at it, else why they run full passes."""
        reasons = self._trace().reasons
        return {slot_id: reasons[name] for slot_id, name in self._names.items()}

    def can_cut(self, slot_id: str) -> bool:
        self._point_index(slot_id)
        return self._trace().reasons[self._names[slot_id]] is None

    def forward(self, x: Tensor, slots: Mapping[str, SlotFn] | None = None) -> Tensor:
        try:
            with self._hooked(slots):
                return self.module(x)
        except _NotATensorError as bad:
            kind = type(bad.output).__name__
            raise GraftError(
                f"output of point {bad.name!r} is a {kind}, not a tensor; points whose output "
                f"is a tensor: {_listing(_tensor_outputs(self.module, x))}"
            ) from None

    def forward_from(
        self, slot_id: str, h: Tensor, slots: Mapping[str, SlotFn] | None = None
    ) -> Tensor:
        self._point_index(slot_id)
        trace, name = self._trace(), self._names[slot_id]
        if trace.reasons[name] is not None or trace.traced is None:
            raise NotImplementedError(f"cannot restart at point {name!r}: {trace.reasons[name]}")
        if name not in trace.suffixes:
            trace.suffixes[name] = suffix(trace.traced, name)
        h = self._through_slot(slots, slot_id, h)
        with self._hooked(slots):
            return trace.suffixes[name](h)

    @contextmanager
    def _hooked(self, slots: Mapping[str, SlotFn] | None) -> Iterator[None]:
        """Hooks on the points for one call; removed after it, so the module stays untouched."""
        handles = []
        try:
            for slot_id, name in self._names.items():
                hook = self._hook(slot_id, name, slots)
                handles.append(self.module.get_submodule(name).register_forward_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, slot_id: str, name: str, slots: Mapping[str, SlotFn] | None) -> _Hook:
        def hook(_module: nn.Module, _args: Any, output: Any) -> Tensor:
            if not isinstance(output, Tensor):
                raise _NotATensorError(name, output)
            return self._through_slot(slots, slot_id, output)

        return hook

    def _trace(self) -> Trace:
        """The cached trace for the module's current mode (traced on first use)."""
        cache: dict[bool, Trace] = self.__dict__["_fx"]
        mode = self.module.training
        if mode not in cache:
            cache[mode] = trace_points(self.module, list(self._names.values()))
        return cache[mode]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fx"] = {}  # graph modules: rebuilt on demand, never pickled or deep-copied
        return state

    def _apply(self, fn: Any, recurse: bool = True) -> GraftedHost:
        self.__dict__["_fx"].clear()  # traced constants would stay on the old device/dtype
        return super()._apply(fn, recurse)


def graft(
    module: nn.Module,
    points: Sequence[str] | Mapping[str, int | None],
    *,
    topology: Topology | str | None = None,
) -> GraftedHost:
    """A host that runs ``module`` with a seed slot after each of ``points``.

    Args:
        module: Any module whose ``forward`` takes one input; it is kept, not copied.
        points: Submodule names as in ``module.named_modules()`` ("layer1.0.conv1"; the slot
            id spelling "layer1/0/conv1" works too), or ``{name: dim}`` where the width cannot
            be inferred (channels of conv features, last dim of token features; None infers).
            A point may lie inside another: its slot runs first, inside the outer point.
        topology: Which blueprints fit (``"cnn"``/``"transformer"``); default read from the
            points' own layers (conv/BatchNorm: CNN; LayerNorm, attention, linear:
            TRANSFORMER), else CNN if the module has a Conv1d/Conv2d.

    Raises:
        GraftError: not a module, no points, an unknown, duplicated or root point, a
            width that cannot be inferred or is not positive, or points whose layers disagree
            on the topology.
        UnknownChoiceError: an unknown topology.
    """
    if not isinstance(module, nn.Module):
        raise GraftError(f"graft needs a torch.nn.Module, got {type(module).__name__}")
    resolved = _points(module, points)
    return GraftedHost(module, resolved, *_topology(module, topology, list(resolved)))
