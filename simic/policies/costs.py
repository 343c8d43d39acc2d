"""What each blueprint of an environment costs in parameters at each of its slots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import gymnasium as gym

import envs
from kasmina import BlueprintRegistry, seeded_init
from kasmina.errors import InvalidValueError
from simic.policies.base import growth_env

_MEMO: dict[tuple[object, ...], BlueprintCosts] = {}


@dataclass(frozen=True)
class BlueprintCosts:
    """Exact parameter counts of an environment's blueprints at each of its slots.

    Attributes:
        host_params: Parameters of the task's bare host.
        params: ``{slot: {blueprint: parameters}}`` for the blueprints buildable at the slot's
            width, in the environment's blueprint order.
    """

    host_params: int
    params: Mapping[str, Mapping[str, int]]

    @classmethod
    def of(cls, env: gym.Env) -> BlueprintCosts:
        """Counted with the registry on the env's current host (its task and, on a task family,
        the episode's widths), built under a fixed seed so no RNG is touched, with the keywords
        the host gives its seeds (``spatial_dims`` for CNNs). Memoised per host.
        """
        base = growth_env(env)
        key = (base.task.name, base.config.host_widths, base.slots, base.codec.blueprints)
        if key not in _MEMO:
            _MEMO[key] = cls._count(base)
        return _MEMO[key]

    @classmethod
    def _count(cls, base: envs.GrowthEnv) -> BlueprintCosts:
        with seeded_init(0):
            host = base.task.make_host(base.config.host_widths)
        widths, host_kwargs = host.injection_points(), host.blueprint_kwargs()
        params: dict[str, dict[str, int]] = {}
        for slot in base.slots:
            params[slot] = {}
            for name in base.codec.blueprints:
                spec = BlueprintRegistry.spec(base.task.topology, name)
                kwargs = {k: v for k, v in host_kwargs.items() if k in spec.keywords}
                try:
                    params[slot][name] = spec.param_count(widths[slot], **kwargs)
                except InvalidValueError:  # not buildable at this width (heads must divide it, ...)
                    continue
        return cls(sum(p.numel() for p in host.parameters()), params)

    def largest(self, slot: str) -> str | None:
        """The blueprint with the most parameters at ``slot`` (``None`` if none fits)."""
        counts = self.params[slot]
        return max(counts, key=counts.__getitem__) if counts else None

    def affordable(self, slot: str, max_ratio: float) -> tuple[str, ...]:
        """Blueprints of at most ``max_ratio`` x the host's parameters, largest first.

        If none is that small, the smallest alone (growing something beats never growing).
        """
        counts = self.params[slot]
        by_size = sorted(counts, key=lambda b: (-counts[b], b))
        cheap = tuple(b for b in by_size if counts[b] <= max_ratio * self.host_params)
        return cheap or tuple(by_size[-1:])
