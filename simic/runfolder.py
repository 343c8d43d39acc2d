"""Run folders on disk: writable before the work starts, owned by one process at a time.

A folder that a process writes a run into (``simic train --out``, ``simic evaluate --out``) is
claimed with a lock file created atomically (``O_CREAT | O_EXCL``) that records the owner's pid,
host and start time. A second process refuses with one line that names the owner; a lock whose
process has died is recognized as stale, and the error says how to clear it. Temporary files
that a crash left in the middle of an atomic save are removed when the folder is claimed again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from simic.errors import SimicError

LOCK_FILE = ".lock"
CONFIG_FILE = "config.json"
"""Every training run's resolved config; its ``engine`` says which library trained the run."""
MODEL_FILE = "model.zip"
"""The final model of an sb3 run (an rllib run's is the folder ``model/``)."""


def ensure_writable_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` (and parents) and prove a file can be written in it, or raise.

    Called before any work starts, so a bad ``--out`` costs nothing.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SimicError(
            f"{what} {str(folder)!r} cannot be written ({reason}); choose a folder you can write to"
        ) from None
    return folder


def temporary_pattern(relative: str) -> str:
    """The glob of the temporary files the atomic writers make for ``relative``.

    ``envs.atomic`` writes ``.<name>.<random>.tmp``; ``simic.train.atomic_save_model`` writes
    ``.<stem>.<random>.zip`` next to the target.
    """
    path = Path(relative)
    if path.suffix == ".zip":
        return str(path.parent / f".{path.stem}.*.zip")
    return str(path.parent / f".{path.name}.*.tmp")


def remove_temporary_files(folder: Path, targets: Iterable[str]) -> list[Path]:
    """Delete what an interrupted atomic save of any of ``targets`` left in ``folder``.

    Only the temporary names of those files are touched, never anything else in the folder.
    """
    removed = []
    for target in targets:
        for path in folder.glob(temporary_pattern(target)):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


@dataclass(frozen=True)
class LockOwner:
    """Who holds a run folder's lock."""

    pid: int
    host: str
    started: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on host {self.host}, since {when}"

    def is_alive(self) -> bool | None:
        """True/False when it can be checked (same host), ``None`` for another host."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, owned by another user
            return True
        return True


def _read_owner(path: Path) -> LockOwner | None:
    try:
        data = json.loads(path.read_text())
        return LockOwner(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written or foreign: reported as an unreadable lock


def _refusal(folder: Path, path: Path) -> SimicError:
    owner = _read_owner(path)
    if owner is None:
        return SimicError(
            f"{folder} is locked ({path} exists but cannot be read); if no process is using "
            f"the folder, delete {path} and try again"
        )
    alive = owner.is_alive()
    if alive is False:
        return SimicError(
            f"{folder} holds a stale lock from {owner.describe()}, a process that is no longer "
            f"running (it was killed or crashed); delete {path} and try again"
        )
    return SimicError(
        f"{folder} is in use by another process ({owner.describe()}); wait for it to finish "
        f"or choose another folder (if that process is gone, delete {path})"
    )


@contextlib.contextmanager
def claim(folder: Path, what: str = "run folder", files: Iterable[str] = ()) -> Iterator[Path]:
    """Own ``folder`` for the duration of the ``with`` block (created if needed).

    Once claimed, leftovers of interrupted atomic saves of ``files`` (paths relative to the
    folder) are removed.

    Raises:
        SimicError: the folder cannot be written, or another (live or dead) process holds it.
    """
    ensure_writable_folder(folder, what)
    path = folder / LOCK_FILE
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise _refusal(folder, path) from None
    except OSError as exc:  # e.g. a read-only disk that still let us see the folder
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise SimicError(f"{what} {str(folder)!r} cannot be written ({exc.strerror})") from None
        raise
    with os.fdopen(fd, "w") as handle:
        json.dump(owner, handle)
    try:
        remove_temporary_files(folder, files)
        yield folder
    finally:
        path.unlink(missing_ok=True)


def release_dead_lock(folder: Path) -> bool:
    """Delete ``folder``'s lock unless its owner is known to be running; True if one was deleted.

    Only for a caller that knows nobody else can own the folder now: a sweep's trial, whose
    previous attempt was killed when the sweep stopped (Tune runs a trial once at a time, and
    the sweep holds its storage folder), on this host or, with a shared folder, on another.
    """
    path = folder / LOCK_FILE
    if not path.exists():
        return False
    owner = _read_owner(path)
    if owner is not None and owner.is_alive() is True:
        return False  # a live process: claim() will refuse with its name
    path.unlink(missing_ok=True)
    return True
