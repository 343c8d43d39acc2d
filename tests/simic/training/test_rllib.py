"""``simic train --engine rllib``: a run on a local Ray, its resume and interruption, and
``simic evaluate`` playing it; plus the refusals that need no Ray."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from simic.cli import main
from simic.policies import rllib_checkpoint

TINY = [
    *("--env-kwargs", "budget=4", "batches_per_step=1"),
    *("--n-steps", "64", "--batch-size", "32", "--n-epochs", "1"),
    "--no-progress",
]
"""One iteration = 64 steps = 16 four-step episodes, one epoch of two minibatches."""


def _progress(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------------- no Ray
def test_an_unknown_engine_is_refused_with_a_suggestion(tmp_path, capsys):
    assert main(["train", "--engine", "rlib", "--out", str(tmp_path / "RUN")]) == 2
    err = capsys.readouterr().err
    assert "unknown engine 'rlib'; did you mean 'rllib'?" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "RUN").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num-env-runners", "2"], "num_env_runners is an RLlib setting"),
        (["--engine", "rllib", "--warm-start", "heuristic"], "has no RLlib counterpart"),
        (["--address", "localhost:6379"], "--address names a Ray cluster for --engine rllib"),
    ],
)
def test_settings_for_the_other_engine_are_refused(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path / "RUN")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "RUN").exists()


def test_without_ray_training_and_playing_an_rllib_run_fail_in_one_line(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    run = tmp_path / "RUN"
    assert main(["train", "--engine", "rllib", "--out", str(run), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs Ray, which is not installed" in err
    assert not run.exists()

    (run / "model").mkdir(parents=True)  # what an rllib run folder looks like
    (run / "model" / rllib_checkpoint.MODULE_MARK).write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"engine": "rllib"}))
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", *TINY[:3]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs Ray, which is not installed" in err


@pytest.mark.parametrize(
    ("engine", "message"),
    [(None, "holds no RLlib policy"), ("sb3", "model.zip' does not exist")],
)
def test_a_run_folder_is_played_by_the_engine_its_config_records(tmp_path, engine, message):
    from envs import GrowthEnv
    from simic.policies import PolicyError, make_policy

    if engine is not None:
        (tmp_path / "config.json").write_text(json.dumps({"engine": engine}))
    with pytest.raises(PolicyError, match=message):
        make_policy(str(tmp_path), GrowthEnv("mnist1d", budget=4))


def test_a_folder_replaced_halfway_is_recovered_and_a_failed_save_keeps_the_old_one(tmp_path):
    target = tmp_path / "checkpoints" / "latest"
    rllib_checkpoint.replace_folder(target, lambda f: (f / "state").write_text("1"))

    def crash(folder: Path) -> None:
        (folder / "state").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rllib_checkpoint.replace_folder(target, crash)
    assert (target / "state").read_text() == "1"
    assert [p.name for p in target.parent.iterdir()] == ["latest"]

    # A crash between moving the old folder aside and renaming the new one into place.
    target.rename(target.parent / ".latest.ab12.old")
    (target.parent / ".latest.cd34.tmp").mkdir()
    rllib_checkpoint.recover(tmp_path)
    assert (target / "state").read_text() == "1"
    assert [p.name for p in target.parent.iterdir()] == ["latest"]


def test_invalid_actions_are_counted_per_iteration_and_over_the_run():
    pytest.importorskip("ray.rllib")
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from simic.training.rllib_setup import (
        INVALID_ACTIONS,
        INVALID_ACTIONS_TOTAL,
        count_invalid_actions,
    )

    class Episode:
        def __init__(self, invalid: bool) -> None:
            self.info = {"invalid_action": invalid}

        def get_infos(self, index: int) -> dict:
            return self.info

    logger = MetricsLogger()
    for invalid in (True, False, True):
        count_invalid_actions(episode=Episode(invalid), metrics_logger=logger, env_index=0)
    assert logger.peek(INVALID_ACTIONS) == 2 and logger.peek(INVALID_ACTIONS_TOTAL) == 2


# ----------------------------------------------------------------------------------- local Ray
# RLlib registers its env wrapper under one name again for every algorithm it builds.
RE_REGISTERED = "ignore:.*Overriding environment rllib-single-agent-env-v0:UserWarning"


@pytest.mark.filterwarnings(RE_REGISTERED)
@pytest.mark.slow
def test_train_interrupt_resume_and_evaluate_an_rllib_run(local_ray, tmp_path, capsys, monkeypatch):
    run = tmp_path / "RUN"
    argv = ["train", "--engine", "rllib", "--timesteps", "128", "--out", str(run), *TINY]
    assert main([*argv, "--eval-every", "128", "--eval-episodes", "1"]) == 0
    for name in ("model", "best_model", "checkpoints/latest"):
        assert rllib_checkpoint.module_folder(run / name) is not None, name
    config = json.loads((run / "config.json").read_text())
    assert config["engine"] == "rllib" and config["ppo"]["n_steps"] == 64
    rows = _progress(run)
    assert [r["timesteps"] for r in rows] == [64, 128]
    assert all(r["invalid_actions"] == 0 for r in rows) and rows[-1]["invalid_actions_total"] == 0
    assert rows[-1]["episodes"] == 16 and rows[-1]["episode_return_mean"] is not None
    assert json.loads((run / "evaluations.json").read_text())[0]["timesteps"] == 128
    assert any((run / "tb").rglob("events.out.tfevents*"))

    # Ctrl-C after the first iteration of the resumed run: a checkpoint, exit status 130.
    from simic.training import rllib as rllib_engine

    add = rllib_engine.Progress.add

    def add_then_interrupt(self, result):
        add(self, result)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(rllib_engine.Progress, "add", add_then_interrupt)
        assert main(["train", "--resume", str(run), "--timesteps", "1000", "--no-progress"]) == 130
    assert "interrupted at 192 timesteps; checkpoint saved" in capsys.readouterr().out
    assert [r["timesteps"] for r in _progress(run)] == [64, 128, 192]

    # The resumed run continues from that checkpoint (timesteps and iterations go on).
    assert main(["train", "--resume", str(run), "--timesteps", "256", "--no-progress"]) == 0
    rows = _progress(run)
    assert [(r["iteration"], r["timesteps"]) for r in rows][-2:] == [(3, 192), (4, 256)]
    assert rows[-1]["invalid_actions_total"] == 0
    assert json.loads((run / "config.json").read_text())["timesteps"] == 256
    capsys.readouterr()

    # Played like an SB3 run: the run folder, against a baseline, with the same files.
    out = tmp_path / "EVAL"
    evaluate = ["evaluate", "--policy", str(run), "--policy", "nogrow", "--episodes", "1"]
    assert main([*evaluate, *TINY[:3], "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert str(run)[-20:] in table and "nogrow" in table
    results = json.loads((out / "results.json").read_text())
    assert [p["policy"] for p in results["policies"]] == [str(run), "nogrow"]
    assert all(p["summary"]["return"]["n"] == 1 for p in results["policies"])
    assert (out / "episodes.csv").is_file() and (out / "pareto.png").is_file()

    # Provenance: a model folder, copied anywhere, still knows the env it was trained on.
    model = shutil.copytree(run / "model", tmp_path / "elsewhere")
    playing = ["evaluate", "--policy", str(model), "--episodes", "1"]
    assert main([*playing, "--env", "simic/Grow-Digits-v0", "--env-kwargs", "budget=4"]) == 2
    assert "was trained on simic/Grow-MNIST1D-v0" in capsys.readouterr().err


@pytest.mark.filterwarnings(RE_REGISTERED)
@pytest.mark.slow
def test_a_relative_run_folder_checkpoints_and_resumes_as_recorded(
    local_ray, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # --out R, as a user types it
    argv = ["train", "--engine", "rllib", "--timesteps", "64", "--out", "R", *TINY]
    assert main([*argv, "--eval-every", "0"]) == 0
    assert rllib_checkpoint.has_checkpoint(tmp_path / "R")
    resume = ["train", "--resume", "R", "--no-progress", "--timesteps"]
    before = {p: p.read_bytes() for p in (tmp_path / "R").rglob("*") if p.is_file()}
    assert main([*resume, "10"]) == 0  # nothing to do: nothing rewritten
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in (tmp_path / "R").rglob("*") if p.is_file()} == before

    config = json.loads((tmp_path / "R" / "config.json").read_text())
    config["env"] = "simic/Grow-Digits-v0"  # edited to another run
    (tmp_path / "R" / "config.json").write_text(json.dumps(config))
    assert main([*resume, "128"]) == 2
    err = capsys.readouterr().err
    assert "does not match the run its checkpoint holds" in err and err.count("\n") == 1
