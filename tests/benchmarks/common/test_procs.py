"""benchmarks.common.procs: how every benchmark starts, watches and stops a command."""

import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.common import procs


def test_simic_argv_and_the_child_environment(monkeypatch, tmp_path):
    assert procs.simic_argv("evaluate", "--episodes", "1") == [
        sys.executable, "-m", "simic", "evaluate", "--episodes", "1",
    ]  # fmt: skip
    assert procs.simic_argv("x", python="py")[:3] == ["py", "-m", "simic"]
    monkeypatch.setenv("RAY_ADDRESS", "somewhere:6379")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = procs.child_env(tmp_path, {"EXTRA": "1"})
    assert env["PYTHONPATH"] == str(tmp_path) and "RAY_ADDRESS" not in env
    assert env["PYTHONUNBUFFERED"] == "1" and env["EXTRA"] == "1"
    assert procs.child_env()["PYTHONPATH"] == str(procs.ROOT)


def test_run_captures_output_and_status():
    done = procs.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "")
    assert done.wall_s > 0
    code = "import simic, sys; print(simic.__file__)"
    assert procs.run([sys.executable, "-c", code]).stdout.startswith(str(procs.ROOT / "simic"))
    assert len(procs.git(procs.ROOT, "rev-parse", "HEAD")) == 40
    assert procs.git(procs.ROOT, "no-such-command") == ""


def test_a_process_writes_its_output_to_files_in_its_own_session(tmp_path):
    code = "import os, sys; print(os.getsid(0)); print('bad', file=sys.stderr)"
    apart = procs.Process([sys.executable, "-c", code], tmp_path / "o", err=tmp_path / "e")
    assert apart.wait(timeout=30) == 0 and not apart.alive()
    assert int(apart.output()) == apart.pid != os.getsid(0)  # a session of its own
    assert apart.errors() == "bad\n"
    log = tmp_path / "log"
    for k in range(2):  # appended, after a header: a log kept over resumed sessions
        together = procs.Process(
            [sys.executable, "-c", code], log, append=True, header=f"$ run {k}\n", cwd=tmp_path
        )
        together.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert lines[0] == "$ run 0" and lines[2] == "bad" and lines[3] == "$ run 1"


def test_a_group_signal_reaches_every_process_the_command_started(tmp_path):
    child = "import time; time.sleep(60)"
    code = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
        "print('ready', flush=True); time.sleep(60)"
    )
    process = procs.Process([sys.executable, "-c", code], tmp_path / "out")
    deadline = time.monotonic() + 30
    while not (kids := procs.descendants(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(kids) == 1 and procs.is_running(kids[0])
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.1)
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM
    deadline = time.monotonic() + 30
    while procs.is_running(kids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procs.is_running(kids[0])
    process.signal(signal.SIGTERM)  # gone: nothing to signal, no error
    assert process.kill() == -signal.SIGTERM


def test_the_process_table_sees_this_process():
    me = procs.read_proc(os.getpid())
    assert me is not None and me.pid == os.getpid() and me.ppid == os.getppid()
    assert procs.is_running(me) and me.pid in {p.pid for p in procs.process_table()}
    assert procs.read_proc(2**31 - 1) is None


ECHO = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    if request.get("die"):
        sys.exit(4)
    print("a stray print")
    print("@@ " + json.dumps({"twice": 2 * request["x"]}), flush=True)
"""


def test_a_json_worker_answers_each_request_and_skips_stray_lines(tmp_path):
    worker = procs.JsonWorker(
        [sys.executable, "-c", ECHO], "@@ ", cwd=tmp_path, env=procs.child_env()
    )
    try:
        assert worker.ask({"x": 3}) == {"twice": 6}
        assert worker.ask({"x": 5}) == {"twice": 10}  # the same process, asked again
        with pytest.raises(RuntimeError, match="died \\(exit 4\\)"):
            worker.ask({"die": True})
    finally:
        worker.close()
