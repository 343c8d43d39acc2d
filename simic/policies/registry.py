"""The policy registry: built-in controllers by name, filled by :func:`register_policy`.

A controller registers itself where it is defined, as timm's models or SB3's ``policy_aliases``
do::

    @register_policy("nogrow")
    class NoGrowPolicy(MaskedPolicy): ...

The name list (:func:`list_policies`), the ``--policy`` help text, :func:`simic.policies.
make_policy` and its did-you-mean all read this one registry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TypeVar

from kasmina import UnknownChoiceError
from simic.policies.base import MaskedPolicy

PolicyClass = TypeVar("PolicyClass", bound=type[MaskedPolicy])


class PolicyRegistry:
    """Policy classes by name, in registration order; each is built as ``cls(env)``."""

    def __init__(self) -> None:
        self._classes: dict[str, type[MaskedPolicy]] = {}

    def register(self, name: str) -> Callable[[PolicyClass], PolicyClass]:
        """Class decorator: register the class as ``name`` and set its ``name`` attribute.

        Raises:
            ValueError: ``name`` is taken, empty, or looks like a model path (a programming
                error, so not a user-facing :class:`~kasmina.KasminaError`).
        """
        if not name or name.endswith(".zip") or "/" in name or "\\" in name:
            raise ValueError(f"policy name {name!r} must be non-empty and not look like a path")

        def decorate(cls: PolicyClass) -> PolicyClass:
            if name in self._classes:
                taken = self._classes[name]
                raise ValueError(
                    f"policy name {name!r} is already registered by "
                    f"{taken.__module__}.{taken.__qualname__}"
                )
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def names(self, pattern: str = "*") -> tuple[str, ...]:
        """The registered names matching the glob ``pattern``, in registration order."""
        return tuple(n for n in self._classes if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def get(self, name: str, context: str = "") -> type[MaskedPolicy]:
        """The class registered as ``name``; an unknown name raises with the closest one."""
        if name not in self._classes:
            raise self.unknown(name, context)
        return self._classes[name]

    def unknown(self, name: object, context: str = "") -> UnknownChoiceError:
        """The error for a name that is not registered (with a did-you-mean)."""
        return UnknownChoiceError("policy", name, self._classes, context=context)


POLICIES = PolicyRegistry()
"""The built-in policies (and any a user registers)."""

register_policy = POLICIES.register
list_policies = POLICIES.names
