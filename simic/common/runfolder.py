"""Run folders on disk: writable before the work starts, owned by one process at a time.

A folder that a process writes a run into (``simic train --out``, ``simic evaluate --out``,
``simic sweep``) is claimed with an advisory lock, ``fcntl.flock`` on ``FOLDER/.lock``, held for
as long as the process works there. The file records the owner's pid, host and start time, so a
second process refuses with one line that names the owner. The *kernel* holds the lock, not the
file: when the owner dies in any way (SIGKILL, the OOM killer, a power cut), the lock dies with
it, and ``--resume`` just works; there is no stale lock to delete by hand. Temporary files that
a crash left in the middle of an atomic save are removed when the folder is claimed again.

The lock is advisory and POSIX-only (Linux and macOS), and it works on a network file system
whose server supports locks (NFSv4; a dead client's lock ends with its lease).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from simic.common.errors import SimicError

LOCK_FILE = ".lock"
CONFIG_FILE = "config.json"
"""Every training run's resolved config; its ``engine`` says which library trained the run."""
MODEL_FILE = "model.zip"
"""The final model of an sb3 run (an rllib run's is the folder ``model/``)."""
BEST_FILE = "best_model.zip"
"""An sb3 run's best model on the held-out evaluation seeds so far."""
CHECKPOINT_FILE = "checkpoints/latest.zip"
"""An sb3 run's latest checkpoint (periodic, on Ctrl-C, and at the end)."""
EVALUATIONS_FILE = "evaluations.json"
"""Every periodic evaluation of a run, either engine (timesteps, mean return)."""
WARM_START_FILE = "warm_start.json"
"""With ``--warm-start``: how well PPO cloned the teacher first."""
DEMOS_FILE = "demonstrations.npz"
"""With ``--warm-start-anchor``: the teacher's samples that PPO is kept near."""
PROGRESS_FILE = "progress.jsonl"
"""An rllib run's progress, one JSON object per training iteration."""
SB3_RUN_FILES = (
    CONFIG_FILE, MODEL_FILE, BEST_FILE, CHECKPOINT_FILE, EVALUATIONS_FILE, WARM_START_FILE,
    DEMOS_FILE,
)  # fmt: skip
"""An sb3 run's files (their leftover temporary files are removed when the folder is claimed)."""
RLLIB_RUN_FILES = (CONFIG_FILE, EVALUATIONS_FILE, PROGRESS_FILE)
"""An rllib run's files; its checkpoints and models are folders (see ``rllib_checkpoint``)."""


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

    ``envs.atomic`` writes ``.<name>.<random>.tmp``; ``simic.training.sb3.atomic_save_model`` writes
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
    """Who holds a folder's lock, as recorded in the lock file."""

    pid: int
    host: str
    started: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on host {self.host}, since {when}"


def _read_owner(path: Path) -> LockOwner | None:
    try:
        data = json.loads(path.read_text())
        return LockOwner(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # being written, or written by something else: the owner is unknown


def _refusal(folder: Path, path: Path, what: str) -> SimicError:
    owner = _read_owner(path)
    who = f" ({owner.describe()})" if owner is not None else ""
    return SimicError(
        f"{folder} is in use by another process{who}; wait for it to finish or choose another "
        f"{what}"
    )


def _open_lock(path: Path, folder: Path, what: str) -> int:
    """A descriptor of ``path`` that holds its exclusive lock, or raise if another process does."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # e.g. a read-only disk that still let us see the folder
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                reason = exc.strerror
                raise SimicError(f"{what} {str(folder)!r} cannot be written ({reason})") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refusal(folder, path, what) from None
        # The previous holder unlinks the file before it lets go: if it did so after we opened
        # it, we hold the lock of a file nobody else will see, so take the new one instead.
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode(), 0)


@contextlib.contextmanager
def claim(folder: Path, what: str = "run folder", files: Iterable[str] = ()) -> Iterator[Path]:
    """Own ``folder`` for the duration of the ``with`` block (created if needed).

    Once claimed, leftovers of interrupted atomic saves of ``files`` (paths relative to the
    folder) are removed. A folder this call created is removed again if it is left empty.

    Raises:
        SimicError: the folder cannot be written, or another live process holds it.
    """
    created = not folder.exists()
    ensure_writable_folder(folder, what)
    path = folder / LOCK_FILE
    try:
        fd = _open_lock(path, folder, what)
    except BaseException:
        _remove_if_empty(folder, created)
        raise
    try:
        _write_owner(fd)
        remove_temporary_files(folder, files)
        yield folder
    finally:
        path.unlink(missing_ok=True)  # while still holding it: see _open_lock
        os.close(fd)
        _remove_if_empty(folder, created)


def _remove_if_empty(folder: Path, created: bool) -> None:
    # A command that stopped before writing anything leaves no empty folder behind it.
    if created:
        with contextlib.suppress(OSError):
            folder.rmdir()
