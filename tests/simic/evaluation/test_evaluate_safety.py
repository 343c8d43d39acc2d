"""``simic evaluate`` refuses bad output folders and foreign models up front, keeps finished
episodes when stopped, and never mixes the environments of two evaluations in one process."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.common.procs import descendants
from benchmarks.common.runs import strict_json
from simic.cli import main
from simic.common.signals import Terminated
from simic.evaluation import EvaluateConfig, evaluate
from simic.evaluation import workers as evaluation_workers
from tests.simic.helpers import EXIT_TIMEOUT_S, running, running_group


def _evaluate_model(model, env_id, *extra):
    argv = ["evaluate", "--policy", str(model), "--env", env_id, "--episodes", "1"]
    return main([*argv, "--env-kwargs", "budget=3", "batches_per_step=1", *extra])


def _long_parallel_evaluation(out):
    """``simic evaluate`` on 2 workers, far longer than any test waits for it."""
    cmd = [sys.executable, "-m", "simic", "evaluate", "--policy", "nogrow", "--episodes", "200"]
    return [*cmd, "--n-envs", "2", "--out", str(out), "--env-kwargs", "budget=4"]


@pytest.mark.parametrize("env_id", ["simic/Grow-MNIST1D-Transformer-v0", "simic/Grow-Digits-v0"])
def test_a_model_refuses_another_environment_with_one_line(tiny_run, env_id, capsys):
    assert _evaluate_model(tiny_run / "model.zip", env_id) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--transfer" in err
    assert f"trained on simic/Grow-MNIST1D-v0, not {env_id}" in err


def test_transfer_is_an_explicit_opt_in(tiny_run, capsys):
    assert _evaluate_model(tiny_run / "model.zip", "simic/Grow-Digits-v0", "--transfer") == 0
    assert "model.zip" in capsys.readouterr().out


def test_the_model_file_records_its_environment(tiny_run):
    from sb3_contrib import MaskablePPO

    from simic.common.provenance import recorded

    signature = recorded(MaskablePPO.load(tiny_run / "model.zip"))
    assert signature is not None and signature.env_id == "simic/Grow-MNIST1D-v0"
    assert signature.slots == ("block0", "block1") and "conv_light" in signature.blueprints
    assert "val_accuracy" in signature.observation


def test_an_unwritable_out_fails_before_any_episode(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    start = time.perf_counter()
    argv = ["evaluate", "--policy", "nogrow", "--episodes", "50", "--out", str(blocker / "x")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "cannot be written" in captured.err and "evaluating" not in captured.out
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("stop,status", [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_interrupted_evaluation_keeps_its_finished_episodes(tmp_path, monkeypatch, stop, status):
    played = []
    real_play = evaluation_workers.play_episode

    def play_then_stop(*job):
        if len(played) == 3:
            raise stop()
        played.append(job)
        return real_play(*job)

    monkeypatch.setattr(evaluation_workers, "play_episode", play_then_stop)
    config = EvaluateConfig(
        policies=("nogrow", "random"),
        episodes=2,
        env_kwargs={"budget": 3, "batches_per_step": 1},
        out=str(tmp_path),
    )
    report = evaluate(config, out=lambda _: None)
    assert report.exit_status == status and report.partial
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["partial"] is True
    counts = {p["policy"]: len(p["episodes"]) for p in data["policies"]}
    assert counts == {"nogrow": 2, "random": 1}
    assert (tmp_path / "episodes.csv").read_text().count("\n") == 4  # header + 3 episodes


@pytest.mark.slow
def test_sigterm_during_a_parallel_evaluation_writes_partial_results(tmp_path):
    out = tmp_path / "out"
    with running(_long_parallel_evaluation(out), stderr=subprocess.PIPE) as proc:
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(6)  # some episodes finish
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr + stdout
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is True and len(data["policies"][0]["episodes"]) < 200


def _nogrow_accuracy(env_id: str) -> float:
    config = EvaluateConfig(env=env_id, policies=("nogrow",), episodes=1, env_kwargs={"budget": 2})
    return evaluate(config, out=lambda _: None).summaries["nogrow"].test_accuracy.mean


def test_two_evaluations_in_one_process_play_their_own_environments(monkeypatch):
    monkeypatch.setattr(evaluation_workers, "_WORKER_CACHE", {})
    alone = _nogrow_accuracy("simic/Grow-MNIST1D-v0")
    monkeypatch.setattr(evaluation_workers, "_WORKER_CACHE", {})
    _nogrow_accuracy("simic/Grow-Digits-v0")
    assert _nogrow_accuracy("simic/Grow-MNIST1D-v0") == alone


def test_a_transfer_to_other_spaces_is_one_short_line(tiny_run, capsys):
    assert _evaluate_model(tiny_run / "model.zip", "simic/Grow-Family-v0", "--transfer") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Box of shape" in err and "[" not in err
    assert len(err) < 400


def test_one_episode_writes_strict_json(tmp_path):
    out = tmp_path / "E"
    argv = ["evaluate", "--policy", "nogrow", "--episodes", "1", "--out", str(out)]
    assert main([*argv, "--env-kwargs", "budget=3", "batches_per_step=1"]) == 0
    data = strict_json(out / "results.json")
    assert data["policies"][0]["summary"]["return"]["ci95"] is None


def test_an_output_folder_in_use_is_refused(tmp_path, capsys):
    from simic.common.runfolder import claim

    out = tmp_path / "E"
    argv = ["evaluate", "--policy", "nogrow", "--episodes", "1", "--out", str(out)]
    with claim(out, "output folder"):
        assert main([*argv, "--env-kwargs", "budget=3", "batches_per_step=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is in use by another process" in err and "\n" not in err
    assert not out.exists()  # nothing written: the folder the test's claim made is gone again


def test_an_earlier_evaluations_files_do_not_stay_beside_new_results(tmp_path):
    out = tmp_path / "E"
    (out / "models").mkdir(parents=True)
    stale = [out / "instances.png", out / "pareto.png", out / "models" / "old_seed1.pt"]
    for path in stale:
        path.write_bytes(b"from an earlier evaluation")
    (out / "notes.txt").write_text("the user's")
    argv = ["evaluate", "--policy", "nogrow", "--episodes", "1", "--out", str(out)]
    assert main([*argv, "--env-kwargs", "budget=3", "batches_per_step=1"]) == 0
    assert not (out / "instances.png").exists() and not (out / "models" / "old_seed1.pt").exists()
    assert (out / "pareto.png").read_bytes() != b"from an earlier evaluation"
    assert (out / "notes.txt").read_text() == "the user's"  # not an evaluation's file: kept


def _wait_for_workers(proc, out, count=3):
    """The pids below ``proc`` once ``count`` + 1 have started: the resource tracker, the
    forkserver and the workers (the last to start)."""
    deadline = time.time() + 90
    while time.time() < deadline:
        below = [p.pid for p in descendants(proc.pid)]
        if out.exists() and len(below) >= count + 1:
            return below
        time.sleep(0.5)
    raise AssertionError("the evaluation's workers did not start")


@pytest.mark.slow
def test_sigterm_to_the_process_group_writes_partial_results(tmp_path):
    out = tmp_path / "out"
    with running_group(_long_parallel_evaluation(out), stderr=subprocess.PIPE) as proc:
        _wait_for_workers(proc, out)
        time.sleep(5)  # the workers import torch, then some episodes finish
        os.killpg(proc.pid, signal.SIGTERM)  # what `timeout`, SLURM and Ray do
        stdout, stderr = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr + stdout
    data = json.loads((out / "results.json").read_text())
    # How many finished depends on the machine's load; keeping them is tested in-process above.
    assert data["partial"] is True and len(data["policies"][0]["episodes"]) < 200


@pytest.mark.slow
def test_a_worker_killed_mid_evaluation_ends_it_with_partial_results(tmp_path):
    out = tmp_path / "out"
    with running_group(_long_parallel_evaluation(out), stderr=subprocess.PIPE) as proc:
        workers = _wait_for_workers(proc, out)
        time.sleep(6)
        os.kill(workers[-1], signal.SIGKILL)  # the OOM killer's choice
        stdout, stderr = proc.communicate(timeout=EXIT_TIMEOUT_S)  # no hang
    assert proc.returncode == 1, stderr
    assert "worker process died" in stdout and "Traceback" not in stderr + stdout
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is True


@pytest.mark.slow
def test_workers_of_a_parent_killed_outright_do_not_outlive_it(tmp_path):
    out = tmp_path / "out"
    with running_group(_long_parallel_evaluation(out), stderr=subprocess.PIPE) as proc:
        workers = _wait_for_workers(proc, out)
        time.sleep(2)
        proc.kill()  # the parent alone: the OOM killer's choice, nothing for it to clean up
        proc.wait(timeout=30)
        deadline = time.time() + 60
        alive = workers
        while alive and time.time() < deadline:
            time.sleep(0.5)
            alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    assert alive == [], "evaluation workers outlived their parent"
