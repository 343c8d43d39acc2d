"""Run folders of ``simic train`` that can't be mixed or lost (resume where they live, one
process at a time, SIGTERM, runs that died early, leftovers of interrupted saves)."""

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
from simic.runfolder import LOCK_FILE, claim
from simic.train import TrainConfig
from tests.simic.processes import EXIT_TIMEOUT_S, running
from tests.simic.test_train import SMALL, _snapshot


def _train(run, timesteps=32, *extra):
    argv = ["train", "--out", str(run), "--timesteps", str(timesteps), "--eval-every", "0"]
    return main([*argv, *SMALL, *extra])


def _steps(path) -> int:
    return MaskablePPO.load(path).num_timesteps


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "RUN"
    assert _train(run) == 0
    return run


def test_resume_trains_the_copied_folder_and_leaves_the_original_alone(finished_run, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(finished_run, original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    before = _snapshot(original)
    assert main(["train", "--resume", str(copy), "--timesteps", "64", "--no-progress"]) == 0
    assert _steps(copy / "model.zip") == 64
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy)
    assert _snapshot(original) == before


def test_resume_trains_a_moved_folder_from_another_directory(
    finished_run, tmp_path, monkeypatch, capsys
):
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(finished_run, moved)
    monkeypatch.chdir(tmp_path)  # the recorded relative or absolute "out" no longer points here
    assert main(["train", "--resume", "elsewhere/moved", "--timesteps", "64", "--no-progress"]) == 0
    assert _steps(moved / "model.zip") == 64
    assert "elsewhere/moved" in capsys.readouterr().out


def test_a_folder_in_use_is_refused_by_a_new_run_and_by_resume(finished_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(finished_run, run)
    fresh = tmp_path / "FRESH"
    before = _snapshot(run)
    with claim(run), claim(fresh):  # held (by this process, on another descriptor)
        assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert "in use by another process" in err and "\n" not in err
        assert f"pid {os.getpid()}" in err
        assert _train(fresh) == 2
        assert "in use by another process" in capsys.readouterr().err
    assert _snapshot(run) == before and not (fresh / "config.json").exists()


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


def test_leftovers_of_an_interrupted_save_are_removed_on_resume(finished_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(finished_run, run)
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

    from simic.train import _close

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
