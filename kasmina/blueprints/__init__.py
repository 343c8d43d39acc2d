"""Blueprints: small residual modules that can be germinated into a host's seed slots.

Importing this package registers the built-in CNN and transformer blueprints into
:data:`BlueprintRegistry`.
"""

from kasmina.blueprints import cnn, transformer  # noqa: F401 - registers the built-ins
from kasmina.blueprints.base import SeedModule
from kasmina.blueprints.registry import BlueprintRegistry, BlueprintSpec, Registry, Topology

__all__ = ["BlueprintRegistry", "BlueprintSpec", "Registry", "SeedModule", "Topology"]
