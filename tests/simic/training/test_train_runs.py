"""Run folders of ``simic train`` that can't be mixed or lost (resume where they live, one
process at a time, SIGTERM, runs that died early, leftovers of interrupted saves), and a resumed
run that is the run its folder holds (its own TensorBoard folder, the config its checkpoint was
trained with, nothing rewritten when there is nothing to do, nothing written for a command
refused up front)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sb3_contrib import MaskablePPO

from simic.cli import main
from simic.common.runfolder import LOCK_FILE, claim
from simic.training import TrainConfig
from tests.simic.helpers import EXIT_TIMEOUT_S, SMALL, running, snapshot


def _train(run, timesteps=32, *extra):
    argv = ["train", "--out", str(run), "--timesteps", str(timesteps), "--eval-every", "0"]
    return main([*argv, *SMALL, *extra])


def _steps(path) -> int:
    return MaskablePPO.load(path).num_timesteps


def test_resume_trains_the_copied_folder_and_leaves_the_original_alone(tiny_run, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(tiny_run, original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    before = snapshot(original)
    assert main(["train", "--resume", str(copy), "--timesteps", "64", "--no-progress"]) == 0
    assert _steps(copy / "model.zip") == 64
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy)
    assert snapshot(original) == before


def test_resume_trains_a_moved_folder_from_another_directory(
    tiny_run, tmp_path, monkeypatch, capsys
):
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(tiny_run, moved)
    monkeypatch.chdir(tmp_path)  # the recorded relative or absolute "out" no longer points here
    assert main(["train", "--resume", "elsewhere/moved", "--timesteps", "64", "--no-progress"]) == 0
    assert _steps(moved / "model.zip") == 64
    assert "elsewhere/moved" in capsys.readouterr().out


def test_a_folder_in_use_is_refused_by_a_new_run_and_by_resume(tiny_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    fresh = tmp_path / "FRESH"
    before = snapshot(run)
    with claim(run), claim(fresh):  # held (by this process, on another descriptor)
        assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert "in use by another process" in err and "\n" not in err
        assert f"pid {os.getpid()}" in err
        assert _train(fresh) == 2
        assert "in use by another process" in capsys.readouterr().err
    assert snapshot(run) == before and not (fresh / "config.json").exists()


@pytest.mark.slow
def test_two_processes_training_into_one_folder_one_refuses(tmp_path):
    run = tmp_path / "RUN"
    cmd = [sys.executable, "-m", "simic", "train", "--out", str(run), "--timesteps", "100000"]
    cmd += ["--eval-every", "0", *SMALL]
    with running(cmd) as first:
        deadline = time.time() + 60
        while not (run / "config.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=EXIT_TIMEOUT_S)
    assert second.returncode == 2, second.stderr
    assert "in use by another process" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert not (run / LOCK_FILE).exists()  # the first released it when it stopped


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    run = tmp_path / "RUN"
    cmd = [sys.executable, "-m", "simic", "train", "--out", str(run), "--timesteps", "100000"]
    cmd += ["--eval-every", "0", "--checkpoint-every", "100000", *SMALL]
    with running(cmd) as proc:
        deadline = time.time() + 60
        while not (run / "config.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # let it train a little
        proc.terminate()
        output, _ = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 143, output
    assert "terminated at" in output and "Traceback" not in output
    assert _steps(run / "checkpoints" / "latest.zip") > 0
    assert not (run / LOCK_FILE).exists()


def test_a_run_that_died_before_its_first_checkpoint_resumes_from_zero(tmp_path, capsys):
    run = tmp_path / "RUN"
    run.mkdir()
    config = TrainConfig.from_mapping(
        {
            "out": str(run),
            "timesteps": 32,
            "eval_every": 0,
            "progress_bar": False,
            "env_kwargs": {"budget": 6, "batches_per_step": 1},
            "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 2},
        }
    )
    (run / "config.json").write_text(json.dumps(config.to_dict()))  # what a killed run leaves
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "no checkpoint yet" in capsys.readouterr().out
    assert _steps(run / "model.zip") == 32


def test_leftovers_of_an_interrupted_save_are_removed_on_resume(tiny_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    leftovers = [run / "checkpoints" / ".latest.q8x1.zip", run / ".config.json.a1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a zip")
    assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-progress"]) == 0
    assert not any(p.exists() for p in leftovers)


def test_a_fresh_run_never_reads_an_earlier_runs_evaluations(tmp_path):
    run = tmp_path / "RUN"
    run.mkdir()
    earlier = [{"timesteps": 999, "mean_return": 1e9}]
    (run / "evaluations.json").write_text(json.dumps(earlier))
    argv = ["train", "--out", str(run), "--timesteps", "32", "--eval-every", "32"]
    assert main([*argv, "--eval-episodes", "1", *SMALL]) == 0
    history = json.loads((run / "evaluations.json").read_text())
    assert [h["timesteps"] for h in history] == [32]
    assert (run / "best_model.zip").is_file()  # the new run's best, not blocked by 1e9


def test_an_interrupted_run_stops_env_workers_that_a_graceful_close_would_wait_for():
    import threading

    import gymnasium as gym
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from simic.training.sb3 import _close

    vec = SubprocVecEnv([lambda: gym.make("CartPole-v1")] * 2, start_method="fork")
    vec.reset()
    # The interrupt landed after the step reached worker 0 and before it reached worker 1:
    # vec.close() would wait for worker 1's reply forever.
    vec.remotes[0].send(("step", 0))
    vec.waiting = True
    closer = threading.Thread(target=_close, args=(vec,), kwargs={"interrupted": True})
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive(), "closing an interrupted run's env workers hung"
    assert vec.closed and not any(p.is_alive() for p in vec.processes)


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.mark.slow
def test_signals_to_the_process_group_of_a_parallel_run_lose_nothing(tmp_path):
    """SIGTERM to the whole group (``timeout``, SLURM, Ray) saves a checkpoint at the interrupt;
    SIGKILL to it leaves a folder that ``--resume`` just takes."""
    from tests.simic.helpers import running_group

    run = tmp_path / "RUN"
    cmd = [sys.executable, "-m", "simic", "train", "--out", str(run), "--timesteps", "100000"]
    cmd += ["--n-envs", "2", "--eval-every", "0", "--checkpoint-every", "100000", *SMALL]
    with running_group(cmd) as proc:
        _wait_for(run / "config.json", proc)
        time.sleep(5)  # let it train a little
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 143, output
    assert "terminated at" in output and "Traceback" not in output
    saved = _steps(run / "checkpoints" / "latest.zip")  # only the interrupt saves, at this rate
    assert saved > 0
    resume = [sys.executable, "-m", "simic", "train", "--resume", str(run), "--no-progress"]
    with running_group([*resume, "--timesteps", "100000"]) as proc:
        deadline = time.time() + 120
        while "training MaskablePPO" not in (line := proc.stdout.readline()):
            assert line and time.time() < deadline, "the resumed run did not start"
        assert f": {saved} -> 100000 timesteps" in line  # continues where it stood
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=EXIT_TIMEOUT_S)
    finished = subprocess.run(
        [*resume, "--timesteps", str(saved + 64)], capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr  # no lock to delete by hand
    assert _steps(run / "model.zip") >= saved + 64


# ---------------------------------------------------------------- a resumed run is its run
def _resume(run, timesteps):
    return main(["train", "--resume", str(run), "--timesteps", str(timesteps), "--no-progress"])


def _events(folder):
    return {p.relative_to(folder): p.stat().st_size for p in folder.rglob("events.out.*")}


def test_a_copied_run_logs_to_its_own_tensorboard_folder(tiny_run, tmp_path):
    before = snapshot(tiny_run)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    copied = _events(copy / "tb")
    assert _resume(copy, 64) == 0
    assert snapshot(tiny_run) == before  # the checkpoint's recorded tb/ is left alone
    grown = _events(copy / "tb")
    assert sum(grown.values()) > sum(copied.values())


def test_a_moved_run_does_not_recreate_its_old_folder(tiny_run, tmp_path):
    first = tmp_path / "first"
    shutil.copytree(tiny_run, first)
    assert _resume(first, 64) == 0  # its checkpoint now remembers first/tb
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    assert _resume(moved, 96) == 0
    assert not first.exists()


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("env", "simic/Grow-Digits-v0", "env 'simic/Grow-MNIST1D-v0' in the checkpoint"),
        ("ppo.learning_rate", 0.1, "ppo.learning_rate"),
        ("env_kwargs", {"budget": 7, "batches_per_step": 1}, "env_kwargs"),
    ],
)
def test_resume_refuses_a_config_edited_to_another_run(
    tiny_run, tmp_path, capsys, key, value, named
):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    section, _, name = key.rpartition(".")
    (config[section] if section else config)[name] = value
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    assert _resume(run, 64) == 2
    err = capsys.readouterr().err.strip()
    assert "does not match the run its checkpoint holds" in err and named in err
    assert "\n" not in err
    assert snapshot(run) == before


def test_resume_may_change_the_target_and_the_device(tiny_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    argv = ["train", "--resume", str(run), "--timesteps", "64", "--device", "cpu"]
    assert main([*argv, "--no-progress"]) == 0


def test_nothing_to_do_writes_nothing(tiny_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    before = snapshot(run)
    assert _resume(run, 10) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert snapshot(run) == before


def test_a_teacher_that_cannot_play_the_env_is_refused_before_any_file(tmp_path, capsys):
    run = tmp_path / "RUN"
    for _ in range(2):  # the same command is refused the same way, not as "in use"
        assert _train(run, 32, "--warm-start", "schedule-best") == 2
        err = capsys.readouterr().err.strip()
        assert "task family" in err and "\n" not in err
        assert not run.exists()


def test_a_run_killed_between_its_last_checkpoint_and_its_model_is_completed(
    tiny_run, tmp_path, capsys
):
    run = tmp_path / "RUN"
    shutil.copytree(tiny_run, run)
    (run / "model.zip").unlink()
    assert _resume(run, 32) == 0
    assert "model.zip written from its checkpoint" in capsys.readouterr().out
    assert (run / "model.zip").read_bytes() != b""
