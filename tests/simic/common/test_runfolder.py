"""Run folders: one process at a time (a lock the kernel releases), writable first, no debris."""

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simic.common.errors import SimicError
from simic.common.runfolder import LOCK_FILE, claim, ensure_writable_folder, remove_temporary_files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, pid: int, host: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": 0}))
    return lock


HOLDER = """
import sys, time
from pathlib import Path
from simic.common.runfolder import claim
with claim(Path(sys.argv[1])):
    print("claimed", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def _held_by_another_process(folder: Path) -> Iterator[subprocess.Popen]:
    """A child process that claims ``folder`` and holds it until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_claim_creates_the_folder_and_releases_the_lock(tmp_path):
    run = tmp_path / "a" / "RUN"
    with claim(run) as folder:
        owner = json.loads((folder / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        (folder / "result").write_text("kept")
    assert (run / "result").is_file() and not (run / LOCK_FILE).exists()


def test_a_folder_it_created_and_left_empty_is_removed(tmp_path):
    with claim(tmp_path / "new"):
        pass
    with pytest.raises(RuntimeError), claim(tmp_path / "failed"):
        raise RuntimeError("stopped before writing anything")
    with claim(tmp_path):  # existed before: kept
        pass
    assert list(tmp_path.iterdir()) == []
    assert tmp_path.is_dir()


def test_a_second_claim_is_refused_while_the_first_holds(tmp_path):
    refused = pytest.raises(SimicError, match="in use by another process")
    with claim(tmp_path), refused as info, claim(tmp_path):
        pass
    assert f"pid {os.getpid()}" in str(info.value) and "\n" not in str(info.value)


def test_a_lock_file_left_by_a_dead_process_holds_nothing(tmp_path):
    # What an O_EXCL lock of older versions, or a holder killed before unlinking, leaves.
    _write_lock(tmp_path, _dead_pid())
    with claim(tmp_path):
        owner = json.loads((tmp_path / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid()


@pytest.mark.slow
def test_a_holder_killed_with_sigkill_releases_the_folder(tmp_path):
    with _held_by_another_process(tmp_path) as holder:
        with pytest.raises(SimicError, match="in use by another process") as info, claim(tmp_path):
            pass
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(info.value)
        assert "\n" not in str(info.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert (tmp_path / LOCK_FILE).exists()  # the file stays; the kernel's lock went
        with claim(tmp_path):
            pass
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.slow
def test_an_unreadable_lock_file_of_a_live_holder_still_refuses(tmp_path):
    with _held_by_another_process(tmp_path):
        (tmp_path / LOCK_FILE).write_text("{half")
        with pytest.raises(SimicError, match=r"in use by another process; wait"), claim(tmp_path):
            pass


def test_a_lock_file_unlinked_by_its_holder_while_we_open_it_is_not_trusted(tmp_path):
    # The holder unlinks before closing; a process that opened the old file meanwhile must
    # not believe it holds the folder beside the next owner of the new file.
    folder = tmp_path / "run"
    with claim(folder):
        stale = os.open(folder / LOCK_FILE, os.O_RDWR)
    try:
        with claim(folder):  # a new file, with its own lock
            fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the old inode is free...
            with pytest.raises(SimicError, match="in use"), claim(folder):
                pass  # ...but the path's lock is the one that counts
    finally:
        os.close(stale)


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError), claim(tmp_path):
        raise RuntimeError("boom")
    assert not (tmp_path / LOCK_FILE).exists()


def test_only_the_temporary_names_of_the_given_files_are_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    leftovers = [
        tmp_path / "checkpoints" / ".latest.k2j4h.zip",
        tmp_path / ".config.json.abc.tmp",
        tmp_path / ".model.x1.zip",
    ]
    kept = [tmp_path / ".mine.zip", tmp_path / "notes.tmp", tmp_path / "checkpoints" / "latest.zip"]
    for path in leftovers + kept:
        path.write_bytes(b"x")
    targets = ["config.json", "model.zip", "checkpoints/latest.zip"]
    assert sorted(remove_temporary_files(tmp_path, targets)) == sorted(leftovers)
    assert all(p.exists() for p in kept)


def test_a_folder_under_a_file_is_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SimicError, match=r"cannot be written \(Not a directory\)") as info:
        ensure_writable_folder(blocker / "out", "output folder")
    assert "\n" not in str(info.value)


def test_a_read_only_disk_is_not_writable(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(SimicError, match=r"cannot be written \(Read-only file system\)"):
        ensure_writable_folder(tmp_path / "out", "run folder")
