"""Run folders: claimed by one process, writable before work starts, temporary files cleaned."""

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simic.errors import SimicError
from simic.runfolder import LOCK_FILE, claim, ensure_writable_folder, remove_temporary_files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, pid: int, host: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": 0}))
    return lock


def test_claim_creates_the_folder_and_releases_the_lock(tmp_path):
    run = tmp_path / "a" / "RUN"
    with claim(run) as folder:
        owner = json.loads((folder / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    assert run.is_dir() and not (run / LOCK_FILE).exists()


def test_a_second_claim_is_refused_while_the_first_holds(tmp_path):
    refused = pytest.raises(SimicError, match="in use by another process")
    with claim(tmp_path), refused as info, claim(tmp_path):
        pass
    assert f"pid {os.getpid()}" in str(info.value) and "\n" not in str(info.value)


def test_a_lock_left_by_a_dead_process_is_stale_and_says_how_to_clear_it(tmp_path):
    lock = _write_lock(tmp_path, _dead_pid())
    with pytest.raises(SimicError, match="stale lock") as info, claim(tmp_path):
        pass
    assert f"delete {lock}" in str(info.value)
    assert lock.exists()  # never taken over silently


def test_a_lock_from_another_host_is_reported_as_in_use(tmp_path):
    _write_lock(tmp_path, 1, host="elsewhere.invalid")
    with pytest.raises(SimicError, match=r"in use .* on host elsewhere\.invalid"), claim(tmp_path):
        pass


def test_an_unreadable_lock_is_refused_with_the_fix(tmp_path):
    (tmp_path / LOCK_FILE).write_text("{half")
    with pytest.raises(SimicError, match=r"cannot be read\); if no process"), claim(tmp_path):
        pass


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
