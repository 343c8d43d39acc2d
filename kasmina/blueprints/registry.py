"""The blueprint registry: a decorator registers a factory; unknown names raise with suggestions.

A *blueprint* is a small residual module that can be germinated into a seed slot of a host.
Blueprints are registered per topology (``"cnn"`` or ``"transformer"``) under a name::

    @BlueprintRegistry.register("cnn", "conv_light")
    class ConvLight(SeedModule): ...

    seed = BlueprintRegistry.create("cnn", "conv_light", 64, spatial_dims=1)
    for spec in BlueprintRegistry.list("cnn", dim=64):
        print(spec.name, spec.param_count(64))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import torch
from torch import nn

from kasmina.errors import InvalidValueError, KasminaError, UnknownChoiceError
from kasmina.validation import reject_unknown

BlueprintFactory = Callable[..., nn.Module]


class Topology(str, Enum):
    """The kinds of host a blueprint can be germinated into."""

    CNN = "cnn"
    TRANSFORMER = "transformer"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | Topology) -> Topology:
        """``value`` as a Topology, or an :class:`UnknownChoiceError` listing the valid ones."""
        if isinstance(value, Topology):
            return value
        try:
            return cls(value)
        except ValueError:
            raise UnknownChoiceError("topology", value, [t.value for t in cls]) from None


def _accepted_keywords(factory: BlueprintFactory) -> tuple[str, ...]:
    """Keyword arguments a factory takes besides ``dim`` (its first argument)."""
    params = list(inspect.signature(factory).parameters.values())[1:]
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in params if p.kind in kinds)


def _count_params(factory: BlueprintFactory, dim: int, kwargs: dict[str, object]) -> int:
    # Built on the meta device: shapes are real, no memory is allocated and no RNG is consumed.
    with torch.device("meta"):
        module = factory(dim, **kwargs)
    return sum(p.numel() for p in module.parameters())


@lru_cache(maxsize=1024)
def _count_params_cached(
    factory: BlueprintFactory, dim: int, kwargs: tuple[tuple[str, object], ...]
) -> int:
    return _count_params(factory, dim, dict(kwargs))


@dataclass(frozen=True)
class BlueprintSpec:
    """What the registry knows about one blueprint.

    Attributes:
        topology: The host topology the blueprint fits.
        name: Its registered name, unique within the topology.
        factory: Called as ``factory(dim, **kwargs)``; returns the seed module.
        description: One line for listings.
        supports_checkpoint: Whether the module accepts ``checkpoint=`` and exposes
            ``use_checkpoint`` (activation checkpointing that the memory governor can switch).
        keywords: The keyword arguments the factory accepts.
    """

    topology: Topology
    name: str
    factory: BlueprintFactory
    description: str
    supports_checkpoint: bool
    keywords: tuple[str, ...]

    def param_count(self, dim: int, **kwargs: object) -> int:
        """The exact number of parameters of this blueprint at ``dim`` (counted, not estimated)."""
        self._check_keywords(kwargs)
        dim = _check_dim(dim)
        try:
            return _count_params_cached(self.factory, dim, tuple(sorted(kwargs.items())))
        except TypeError:  # an unhashable keyword value: count without the cache
            return _count_params(self.factory, dim, kwargs)

    def _check_keywords(self, kwargs: dict[str, object]) -> None:
        reject_unknown(f"blueprint {self.topology}/{self.name}", kwargs, self.keywords)


def _check_dim(dim: object) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidValueError(f"blueprint dim must be a positive int, got {dim!r}")
    return dim


class Registry:
    """A registry of blueprint factories, keyed by topology and name.

    :data:`BlueprintRegistry` is the process-wide instance that the built-in blueprints
    register into; a fresh ``Registry()`` is handy for tests and experiments.
    """

    def __init__(self) -> None:
        self._specs: dict[Topology, dict[str, BlueprintSpec]] = {t: {} for t in Topology}

    def register(
        self,
        topology: str | Topology,
        name: str,
        *,
        description: str | None = None,
    ) -> Callable[[BlueprintFactory], BlueprintFactory]:
        """Decorator that registers ``factory`` (a class or function) as ``topology/name``.

        The description defaults to the first line of the factory's docstring. Whether the
        blueprint supports activation checkpointing is read from its signature (a ``checkpoint``
        keyword), so the registry can never disagree with the module.

        Raises:
            KasminaError: if ``topology/name`` is already registered, or no description is found.
        """
        topo = Topology.parse(topology)

        def decorator(factory: BlueprintFactory) -> BlueprintFactory:
            if name in self._specs[topo]:
                raise KasminaError(f"blueprint {topo}/{name} is already registered")
            text = description or (inspect.getdoc(factory) or "").strip().splitlines()
            text = text if isinstance(text, str) else (text[0] if text else "")
            if not text:
                raise KasminaError(f"blueprint {topo}/{name} needs a description or docstring")
            keywords = _accepted_keywords(factory)
            self._specs[topo][name] = BlueprintSpec(
                topo, name, factory, text, "checkpoint" in keywords, keywords
            )
            return factory

        return decorator

    def spec(self, topology: str | Topology, name: str) -> BlueprintSpec:
        """The spec of ``topology/name``; unknown names raise with the closest valid name."""
        topo = Topology.parse(topology)
        specs = self._specs[topo]
        if name not in specs:
            raise UnknownChoiceError("blueprint", name, specs, context=f"for topology {topo!s}")
        return specs[name]

    def names(self, topology: str | Topology) -> tuple[str, ...]:
        """Registered names for ``topology`` in registration order."""
        return tuple(self._specs[Topology.parse(topology)])

    def create(self, topology: str | Topology, name: str, dim: int, **kwargs: object) -> nn.Module:
        """Build blueprint ``topology/name`` for feature width ``dim``.

        Keyword arguments go to the factory; one it does not accept raises an
        :class:`UnexpectedKeywordError` that names the blueprint and lists what it accepts.
        """
        spec = self.spec(topology, name)
        spec._check_keywords(kwargs)
        return spec.factory(_check_dim(dim), **kwargs)

    def list(
        self,
        topology: str | Topology | None = None,
        *,
        dim: int = 64,
        supports_checkpoint: bool | None = None,
        max_params: int | None = None,
        **kwargs: object,
    ) -> list[BlueprintSpec]:
        """Specs sorted by their real parameter count at ``dim``, optionally filtered.

        Args:
            topology: Only this topology; ``None`` lists all.
            dim: The width at which parameters are counted for sorting and ``max_params``.
            supports_checkpoint: Keep only blueprints that do (True) or do not (False).
            max_params: Keep only blueprints with at most this many parameters at ``dim``.
            **kwargs: Passed to each factory while counting (e.g. ``spatial_dims=1``); a
                blueprint that does not accept one of them is counted without it.

        A blueprint that cannot be built at ``dim`` (its factory rejects it with a
        :class:`KasminaError`, e.g. attention heads that do not divide ``dim``) is left out:
        the listing answers "what can I build at this width".
        """
        topos = list(Topology) if topology is None else [Topology.parse(topology)]
        dim = _check_dim(dim)
        rows = []
        for topo in topos:
            for spec in self._specs[topo].values():
                wanted = supports_checkpoint
                if wanted is not None and spec.supports_checkpoint != wanted:
                    continue
                own = {k: v for k, v in kwargs.items() if k in spec.keywords}
                try:
                    count = spec.param_count(dim, **own)
                except KasminaError:
                    continue
                if max_params is None or count <= max_params:
                    rows.append((topo.value, count, spec.name, spec))
        return [row[-1] for row in sorted(rows, key=lambda r: r[:3])]


BlueprintRegistry = Registry()
"""The process-wide registry holding the built-in CNN and transformer blueprints."""
