"""Where a traced model can restart from a point: the ``torch.fx`` side of :mod:`kasmina.graft`.

A point *cuts* the graph when it runs once and nothing computed before it, other than its own
output, is used after it (a block boundary, not the inside of a residual block). There the
rest of the graph, as its own ``GraphModule``, restarts the model from the point's output, so
a counterfactual at that slot need not re-run what comes before it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import fx, nn


class PointTracer(fx.Tracer):
    """fx's tracer with every point a leaf, so each point call is one ``call_module`` node."""

    def __init__(self, points: set[str]) -> None:
        super().__init__()
        self.points = points

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.points or super().is_leaf_module(
            m, module_qualified_name
        )


@dataclass
class Trace:
    """One trace of the module (in one train/eval mode: fx bakes ``self.training`` in)."""

    traced: fx.GraphModule | None
    reasons: dict[str, str | None]  # point name -> why it is not cuttable (None: it is)
    suffixes: dict[str, fx.GraphModule] = field(default_factory=dict)


def trace_points(module: nn.Module, names: Sequence[str]) -> Trace:
    """Trace ``module`` with the points as leaves and decide, per point, whether it cuts."""
    extra = list(inspect.signature(module.forward).parameters.values())[1:]
    concrete = {p.name: p.default for p in extra if p.default is not inspect.Parameter.empty}
    try:
        graph = PointTracer(set(names)).trace(module, concrete_args=concrete or None)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...)
        why = f"the model does not trace with torch.fx ({type(e).__name__}: {e})".split("\n")[0]
        return Trace(None, dict.fromkeys(names, why))
    traced = fx.GraphModule(module, graph)
    nodes = list(graph.nodes)
    return Trace(traced, {name: _cut_reason(nodes, name) for name in names})


def _point_nodes(nodes: list[fx.Node], name: str) -> list[int]:
    return [i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == name]


def _cut_reason(nodes: list[fx.Node], name: str) -> str | None:
    """Why the graph cannot restart from point ``name``'s output, or None if it can: the
    point runs once and no other value from before it is used after it."""
    calls = _point_nodes(nodes, name)
    if len(calls) != 1:
        return (
            f"runs {len(calls)} times in the traced graph"
            if calls
            else "runs inside another module that the trace keeps whole (or never runs)"
        )
    index = {n: i for i, n in enumerate(nodes)}
    for later in nodes[calls[0] + 1 :]:
        for arg in later.all_input_nodes:
            if index[arg] < calls[0] and arg.op != "get_attr":  # parameters can be refetched
                return f"{arg.name!r} from before it is used after it by {later.name!r} (a skip?)"
    return None


def suffix(traced: fx.GraphModule, name: str) -> fx.GraphModule:
    """The graph after point ``name``, as a module whose one input is the point's output.

    GraphModule copies *references* to the submodules it calls, so the suffix runs the user's
    own modules (and their hooks); only the parameters it fetches before the cut are re-fetched.
    """
    nodes = list(traced.graph.nodes)
    cut = _point_nodes(nodes, name)[0]
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {nodes[cut]: graph.placeholder("h")}

    def arg(node: fx.Node) -> fx.Node:
        if node not in env:  # a get_attr from before the cut (the cut check allows no other)
            env[node] = graph.node_copy(node, arg)
        return env[node]

    for node in nodes[cut + 1 :]:
        env[node] = graph.node_copy(node, arg)
    return fx.GraphModule(traced, graph)


def forward_order(module: nn.Module, names: list[str], trace: Trace) -> list[str]:
    """``names`` in forward order: by the graph node of the point (or of the closest
    enclosing module the graph calls; nested points first), else by ``named_modules``."""
    registered = {n: i for i, (n, _) in enumerate(module.named_modules())}
    if trace.traced is None:
        return sorted(names, key=registered.__getitem__)
    first: dict[str, int] = {}
    for i, node in enumerate(trace.traced.graph.nodes):
        if node.op == "call_module":
            first.setdefault(str(node.target), i)

    def key(name: str) -> tuple[float, int, int]:
        parts = name.split(".")
        for depth in range(len(parts), 0, -1):
            if (enclosing := ".".join(parts[:depth])) in first:
                return first[enclosing], -len(parts), registered[name]
        return float("inf"), 0, registered[name]

    return sorted(names, key=key)
