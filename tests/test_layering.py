"""The layers only look down, and nothing imports in a circle.

kasmina knows nothing of envs or simic, envs nothing of simic; inside simic each subpackage
imports only those before it in :data:`SIMIC_LAYERS`. Every import counts, including those
inside functions and under ``TYPE_CHECKING``: a deferred import is still a dependency, and a
cycle that only type checkers see still makes two modules one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kasmina", "envs", "simic")
FORBIDDEN = {"kasmina": {"envs", "simic"}, "envs": {"simic"}}
SIMIC_LAYERS = ("common", "pretrained", "policies", "training", "evaluation", "sweep", "cli")
"""simic's subpackages, lowest first (``pretrained`` is package data with a name lookup)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str) -> Iterator[str]:
    """Every module of the three packages that ``name`` imports (``from pkg import sub`` is
    an import of ``pkg.sub`` when that is a module), and every other root it imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in MODULES else base


def _graph() -> dict[str, set[str]]:
    return {m: {i for i in _imports(m) if i in MODULES and i != m} for m in MODULES}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_lower_layers(package):
    for name in (m for m in MODULES if m.split(".")[0] == package):
        bad = {i.split(".")[0] for i in _imports(name)} & FORBIDDEN[package]
        assert not bad, f"{MODULES[name].relative_to(ROOT)} imports {sorted(bad)}"


def _simic_layer(name: str) -> int | None:
    parts = name.split(".")
    if parts[0] != "simic" or len(parts) < 2 or parts[1] not in SIMIC_LAYERS:
        return None
    return SIMIC_LAYERS.index(parts[1])


def test_every_simic_module_lives_in_a_layer():
    loose = [m for m in MODULES if m.startswith("simic.") and _simic_layer(m) is None]
    assert loose == ["simic.__main__"], f"modules outside simic's subpackages: {loose}"


@pytest.mark.parametrize("layer", SIMIC_LAYERS)
def test_simic_subpackage_imports_only_the_layers_before_it(layer):
    level = SIMIC_LAYERS.index(layer)
    for name, imported in _graph().items():
        if _simic_layer(name) != level:
            continue
        above = sorted(i for i in imported if (_simic_layer(i) or 0) > level)
        assert not above, f"{name} (layer {layer}) imports later layers: {above}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_anywhere():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
