"""Ray, the optional engine for scaling out: importing it, and one Ray session per command.

Ray is an extra (``pip install 'simic-growth[ray]'``): without it the base install works
unchanged and every Ray command fails with one line saying what to install.

Every Ray command runs inside :func:`ray_session`: with no address it starts a local Ray with
this machine's cores (the default, as on a laptop), with ``--address`` or ``RAY_ADDRESS`` it
connects to a running cluster (``ray start --head`` on one machine, ``ray start
--address=HEAD:6379`` on the others). Whatever the session started, it stops on the way out, so
no Ray process outlives the command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from simic.errors import SimicError

INSTALL_HINT = "pip install 'simic-growth[ray]'"
LOCAL = "local"
"""The address that means "start a local Ray here" (also what no address means)."""


def require_ray(feature: str) -> ModuleType:
    """The ``ray`` module, or a one-line :class:`SimicError` naming ``feature`` and the fix."""
    try:
        import ray
    except ImportError:
        raise SimicError(f"{feature} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def resolve_address(address: str | None) -> str | None:
    """The cluster to connect to: ``address``, else ``RAY_ADDRESS``; ``None`` for a local Ray."""
    chosen = address or os.environ.get("RAY_ADDRESS") or None
    return None if chosen in (None, LOCAL) else chosen


@contextmanager
def ray_session(
    feature: str, address: str | None = None, *, num_cpus: int | None = None
) -> Iterator[ModuleType]:
    """Ray, initialised for one command; shut down afterwards if this call started it.

    Args:
        feature: What needs Ray, for the error when it is not installed (e.g. "simic sweep").
        address: A cluster address (``HOST:6379`` or ``ray://HOST:10001``); ``None`` or
            ``"local"`` starts a local Ray unless ``RAY_ADDRESS`` names a cluster.
        num_cpus: CPUs of a *local* Ray (default: every core of this machine).
    """
    ray = require_ray(feature)
    if ray.is_initialized():  # a caller (a test, a notebook) owns the session
        yield ray
        return
    target = resolve_address(address)
    settings = {"include_dashboard": False, "logging_level": logging.WARNING}
    try:
        if target is None:
            # A local Ray must not pick up RAY_ADDRESS set for another purpose: address=local.
            ray.init(address=LOCAL, num_cpus=num_cpus or os.cpu_count() or 1, **settings)
        else:
            ray.init(address=target, **settings)
    except ConnectionError as exc:
        raise SimicError(f"cannot reach the Ray cluster at {target!r} ({exc})") from None
    try:
        yield ray
    finally:
        ray.shutdown()
