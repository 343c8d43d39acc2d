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
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from kasmina.errors import closest
from simic.common.errors import SimicError

INSTALL_HINT = "pip install 'simic-growth[ray]'"
LOCAL = "local"
"""The address that means "start a local Ray here", whatever ``RAY_ADDRESS`` says."""
DEFAULT = "default"
"""What a bare ``--ray`` means: the cluster ``RAY_ADDRESS`` names if it is set, else local."""
AUTO = "auto"
"""Ray's own word for the cluster that ``ray start`` runs on this machine."""
CONNECT_TIMEOUT_S = 10.0
_ADDRESS = re.compile(
    r"^(?:ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r":(?P<port>\d{1,5})$"
)


def require_ray(feature: str) -> ModuleType:
    """The ``ray`` module, or a one-line :class:`SimicError` naming ``feature`` and the fix."""
    try:
        import ray
    except ImportError:
        raise SimicError(f"{feature} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_address(address: str, what: str = "the Ray address") -> str:
    """``address`` if it is one Ray can take, else a one-line error naming the valid forms.

    Checked before anything starts, so a typo costs nothing.
    """
    if address in (LOCAL, DEFAULT, AUTO):
        return address
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match["port"]) < 65536:
        suggestion = closest(str(address), [LOCAL, AUTO])
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        raise SimicError(
            f"{what} {address!r} is not a Ray address{hint}: give HOST:PORT (e.g. "
            "10.0.0.5:6379), ray://HOST:10001 for a Ray client server, 'local' to start a "
            "local Ray, or 'auto' for the cluster 'ray start' runs on this machine"
        )
    return address


def resolve_address(address: str | None) -> str | None:
    """The cluster to connect to: ``address``, else ``RAY_ADDRESS``; ``None`` for a local Ray.

    ``None`` and :data:`DEFAULT` defer to ``RAY_ADDRESS``; :data:`LOCAL` never does.
    """
    if address in (None, DEFAULT):
        chosen = os.environ.get("RAY_ADDRESS") or None
        if chosen is not None:
            check_address(chosen, "RAY_ADDRESS")
    else:
        chosen = check_address(address)
    return None if chosen in (None, LOCAL) else chosen


def check_reachable(address: str | None) -> None:
    """Raise one line unless the cluster ``address`` means can be reached (local: nothing to do).

    Ray itself retries an address where nothing listens forever, without a word; a TCP
    connection with a timeout tells at once.
    """
    _probe(resolve_address(address))


def _probe(target: str | None) -> None:
    if target is None or target == AUTO:
        return  # a local Ray is started; 'auto' fails fast in Ray when no cluster runs here
    match = _ADDRESS.match(target)
    assert match is not None  # resolve_address checked it
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        answered = _answers_grpc(host, port)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SimicError(
            f"cannot reach the Ray cluster at {target!r} ({reason}); check that 'ray start "
            f"--head' runs on {host} and that port {port} is open from here, or leave the "
            "address out for a local Ray"
        ) from None
    if not answered:
        raise SimicError(
            f"something listens at {target!r}, but it is not a Ray cluster (no gRPC answer "
            f"within {CONNECT_TIMEOUT_S:g} s); use the address 'ray start --head' printed"
        )


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_SETTINGS = 4  # the HTTP/2 frame type every gRPC server sends first


def _answers_grpc(host: str, port: int) -> bool:
    """Whether a gRPC server (a Ray GCS, or a Ray client server) answers at ``host:port``.

    Ray's own ``ray.init`` waits for an answer for minutes, in C++ where no signal reaches it;
    the HTTP/2 preface and an empty SETTINGS frame get a SETTINGS frame back from any gRPC
    server at once.
    """
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.sendall(_HTTP2_PREFACE + bytes([0, 0, 0, _SETTINGS, 0, 0, 0, 0, 0]))
        head = b""
        try:
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
        except TimeoutError:
            return False
    return len(head) == 9 and head[3] == _SETTINGS


@contextmanager
def ray_session(
    feature: str, address: str | None = None, *, num_cpus: int | None = None
) -> Iterator[ModuleType]:
    """Ray, initialised for one command; shut down afterwards if this call started it.

    Args:
        feature: What needs Ray, for the error when it is not installed (e.g. "simic sweep").
        address: A cluster address (``HOST:6379``, ``ray://HOST:10001`` or ``"auto"``);
            ``None`` or :data:`DEFAULT` means ``RAY_ADDRESS`` if set, else a local Ray;
            :data:`LOCAL` always starts a local Ray.
        num_cpus: CPUs of a *local* Ray (default: every core of this machine).
    """
    ray = require_ray(feature)
    if ray.is_initialized():  # a caller (a test, a notebook) owns the session
        yield ray
        return
    target = resolve_address(address)
    _probe(target)
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
