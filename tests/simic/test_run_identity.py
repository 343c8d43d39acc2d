"""A resumed run is the run its folder holds: its own TensorBoard folder, the config its
checkpoint was trained with, nothing rewritten when there is nothing to do, and nothing written
for a command refused up front (issue 17, cases 1, 6, 12, 13)."""

import json
import shutil

import pytest

from simic.cli import main
from tests.simic.test_train import SMALL, _snapshot


def _train(run, timesteps=32, *extra):
    argv = ["train", "--out", str(run), "--timesteps", str(timesteps), "--eval-every", "0"]
    return main([*argv, *SMALL, *extra])


def _resume(run, timesteps):
    return main(["train", "--resume", str(run), "--timesteps", str(timesteps), "--no-progress"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "RUN"
    assert _train(run) == 0
    return run


def _events(folder):
    return {p.relative_to(folder): p.stat().st_size for p in folder.rglob("events.out.*")}


def test_a_copied_run_logs_to_its_own_tensorboard_folder(finished_run, tmp_path):
    before = _snapshot(finished_run)
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    copied = _events(copy / "tb")
    assert _resume(copy, 64) == 0
    assert _snapshot(finished_run) == before  # the checkpoint's recorded tb/ is left alone
    grown = _events(copy / "tb")
    assert sum(grown.values()) > sum(copied.values())


def test_a_moved_run_does_not_recreate_its_old_folder(finished_run, tmp_path):
    first = tmp_path / "first"
    shutil.copytree(finished_run, first)
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
    finished_run, tmp_path, capsys, key, value, named
):
    run = tmp_path / "RUN"
    shutil.copytree(finished_run, run)
    config = json.loads((run / "config.json").read_text())
    section, _, name = key.rpartition(".")
    (config[section] if section else config)[name] = value
    (run / "config.json").write_text(json.dumps(config))
    before = _snapshot(run)
    assert _resume(run, 64) == 2
    err = capsys.readouterr().err.strip()
    assert "does not match the run its checkpoint holds" in err and named in err
    assert "\n" not in err
    assert _snapshot(run) == before


def test_resume_may_change_the_target_and_the_device(finished_run, tmp_path):
    run = tmp_path / "RUN"
    shutil.copytree(finished_run, run)
    argv = ["train", "--resume", str(run), "--timesteps", "64", "--device", "cpu"]
    assert main([*argv, "--no-progress"]) == 0


def test_nothing_to_do_writes_nothing(finished_run, tmp_path, capsys):
    run = tmp_path / "RUN"
    shutil.copytree(finished_run, run)
    before = _snapshot(run)
    assert _resume(run, 10) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _snapshot(run) == before


def test_a_teacher_that_cannot_play_the_env_is_refused_before_any_file(tmp_path, capsys):
    run = tmp_path / "RUN"
    for _ in range(2):  # the same command is refused the same way, not as "in use"
        assert _train(run, 32, "--warm-start", "schedule-best") == 2
        err = capsys.readouterr().err.strip()
        assert "task family" in err and "\n" not in err
        assert not run.exists()
