"""benchmarks.common.jobs: ordered, dependent, resumable jobs; failures and stops keep the rest."""

import os
import signal
import sys
import threading
import time

import pytest

from benchmarks.common.jobs import Job, JobFailedError, Runner, add_wall, read_wall
from simic.common.signals import sigterm_interrupts


def _python(name, code, **kwargs):
    return Job(name, [sys.executable, "-c", code], done=kwargs.pop("done", lambda: False), **kwargs)


def test_jobs_run_in_order_after_their_dependency_and_done_ones_are_skipped(tmp_path):
    marker = tmp_path / "a.txt"
    finished = []
    jobs = [
        _python("a", f"open({str(marker)!r}, 'w').write('a')",
                wall_file=tmp_path / "a.wall.json", finish=lambda: finished.append("a")),
        _python("b", f"import sys; sys.exit(0 if open({str(marker)!r}).read() == 'a' else 3)",
                after="a"),
        _python("skip", "raise SystemExit(5)", done=lambda: True),
    ]  # fmt: skip
    runner = Runner(parallel=2, logs=tmp_path / "logs")
    with pytest.raises(ValueError, match="waits for 'a', which is not queued before it"):
        runner.submit(jobs[1])
    for job in jobs:
        runner.submit(job)
    with pytest.raises(ValueError, match="two jobs are named 'a'"):
        runner.submit(jobs[0])
    assert runner.wait() == ["a", "b"]
    assert finished == ["a"] and read_wall(tmp_path / "a.wall.json") > 0
    assert (tmp_path / "logs" / "a.log").is_file() and not (tmp_path / "logs" / "skip.log").exists()


def test_a_failed_job_is_reported_its_dependents_skipped_and_the_others_finish(tmp_path):
    ran = tmp_path / "ran"
    ran.mkdir()
    runner = Runner(parallel=1, logs=tmp_path / "logs")
    runner.submit(_python("bad", "print('why'); raise SystemExit(4)"))
    runner.submit(_python("after", f"open({str(ran / 'after')!r}, 'w')", after="bad"))
    runner.submit(_python("other", f"open({str(ran / 'other')!r}, 'w')"))
    with pytest.raises(JobFailedError) as failed:
        runner.wait()
    assert failed.value.failures[0].startswith("bad exited with status 4; see ")
    assert failed.value.failures[1] == "after not run: bad failed"
    assert [p.name for p in ran.iterdir()] == ["other"]
    assert (tmp_path / "logs" / "bad.log").read_text() == "why\n"


def test_a_two_core_job_holds_both_cores(tmp_path):
    stamp = (
        "import sys, time; time.sleep(float(sys.argv[2])); "
        "open(sys.argv[1], 'w').write(repr(time.time()))"
    )
    wide = Job("wide", [sys.executable, "-c", stamp, str(tmp_path / "wide"), "0.5"],
               lambda: False, cores=2)  # fmt: skip
    narrow = Job(
        "narrow", [sys.executable, "-c", stamp, str(tmp_path / "narrow"), "0"], lambda: False
    )
    runner = Runner(parallel=2, logs=tmp_path / "logs")
    runner.submit(wide)
    runner.submit(narrow)
    runner.wait()
    assert float((tmp_path / "narrow").read_text()) > float((tmp_path / "wide").read_text())


def _resumable(tmp_path, name, seconds):
    """A job that is done once its output exists; it fails if it runs when already done."""
    out = tmp_path / name
    code = (
        "import pathlib, sys, time; out = pathlib.Path(sys.argv[1]); "
        "sys.exit(7) if out.exists() else None; time.sleep(float(sys.argv[2])); out.write_text('x')"
    )
    return Job(name, [sys.executable, "-c", code, str(out), str(seconds)], done=out.is_file)


def test_sigterm_stops_every_job_keeps_the_finished_ones_and_a_rerun_skips_them(tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGTERM is turned into KeyboardInterrupt only on the main thread")
    runner = Runner(parallel=2, logs=tmp_path / "logs")
    quick, slow = _resumable(tmp_path, "quick", 0), _resumable(tmp_path, "slow", 60)
    for job in (quick, slow):
        runner.submit(job)

    def stop_once_quick_finished():
        deadline = time.monotonic() + 30
        while not quick.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the slow job is running by now
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_quick_finished, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), sigterm_interrupts():
        runner.wait()
    assert time.monotonic() - started < 30  # the slow job was stopped, not waited for
    assert quick.done() and not slow.done() and not runner.live

    again = Runner(parallel=2, logs=tmp_path / "logs")
    for job in (quick, _resumable(tmp_path, "slow", 0)):
        again.submit(job)
    assert again.wait() == ["slow"]  # quick is kept: running it again would exit 7


def test_wall_time_adds_up_over_sessions(tmp_path):
    path = tmp_path / "w" / "wall.json"
    assert read_wall(path) is None
    add_wall(path, 60.0)
    add_wall(path, 30.5)
    assert read_wall(path) == 90.5
