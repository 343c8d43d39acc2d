"""``simic train``: a complete run, resume, interruption, and refusals that overwrite nothing."""

import json
import os
import signal
import sys
import time

import pytest
from sb3_contrib import MaskablePPO

from simic.cli import main
from simic.training import TrainConfig
from tests.simic.helpers import EXIT_TIMEOUT_S, SMALL, running, snapshot


@pytest.mark.slow
def test_train_resume_and_evaluate_the_model(tmp_path, capsys):
    run = tmp_path / "RUN"
    argv = [
        "train",
        "--env",
        "simic/Grow-MNIST1D-v0",
        "--timesteps",
        "256",
        "--n-envs",
        "2",
        "--out",
        str(run),
        "--eval-every",
        "128",
        "--eval-episodes",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    for name in (
        "config.json",
        "model.zip",
        "checkpoints/latest.zip",
        "best_model.zip",
        "evaluations.json",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tb").rglob("events.out.tfevents*"))
    config = json.loads((run / "config.json").read_text())
    assert config["timesteps"] == 256 and config["n_envs"] == 2 and config["ppo"]["gamma"] == 1.0
    assert MaskablePPO.load(run / "model.zip").num_timesteps == 256

    assert main(["train", "--resume", str(run), "--timesteps", "512", "--no-progress"]) == 0
    assert MaskablePPO.load(run / "model.zip").num_timesteps == 512
    assert json.loads((run / "config.json").read_text())["timesteps"] == 512
    capsys.readouterr()

    assert (
        main(
            [
                "evaluate",
                "--policy",
                str(run / "model.zip"),
                "--episodes",
                "1",
                "--env-kwargs",
                "budget=6",
            ]
        )
        == 0
    )
    assert "model.zip" in capsys.readouterr().out


def test_config_file_and_command_line_are_merged(tmp_path):
    from simic.cli.commands import build_parser
    from simic.cli.runs import train_config

    file = tmp_path / "run.yaml"
    file.write_text("timesteps: 1000\nenv_kwargs: {budget: 7}\nppo: {n_steps: 16, gamma: 0.9}\n")
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(file),
            "--timesteps",
            "2000",
            "--env-kwargs",
            "param_rent=0.2",
            "--gamma",
            "0.95",
        ]
    )
    config = train_config(args)
    assert config.timesteps == 2000
    assert config.env_kwargs == {"budget": 7, "param_rent": 0.2}
    assert (config.ppo.n_steps, config.ppo.gamma) == (16, 0.95)
    assert TrainConfig.from_mapping(config.to_dict()) == config


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--env", "simic/Grow-MNIST1D-v1"], "did you mean 'simic/Grow-MNIST1D-v0'"),
        (["--env-kwargs", "budgte=5"], "did you mean 'budget'"),
        (["--env-kwargs", "budget"], "not key=value"),
        (["--n-steps", "0"], "ppo.n_steps must be an int >= 1"),
        (["--timesteps", "0"], "timesteps must be an int >= 1"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, expected):
    run = tmp_path / "RUN"
    assert main(["train", "--out", str(run), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simic: error:") and expected in err and "\n" not in err
    assert not run.exists()


def test_resume_refusals_leave_the_run_untouched(tmp_path, capsys):
    empty = tmp_path / "EMPTY"
    empty.mkdir()
    assert main(["train", "--resume", str(empty), "--timesteps", "64"]) == 2
    assert "holds no training run" in capsys.readouterr().err

    run = tmp_path / "RUN"
    assert main(["train", "--out", str(run), "--timesteps", "32", "--eval-every", "0", *SMALL]) == 0
    before = snapshot(run)
    assert main(["train", "--out", str(run), "--timesteps", "64", *SMALL]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--timesteps", "64", "--seed", "3"]) == 2
    assert "drop --seed" in capsys.readouterr().err
    (run / "checkpoints" / "latest.zip").write_bytes(b"not a zip")
    before = snapshot(run)
    assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot be loaded" in err and "left as it is" in err
    assert snapshot(run) == before


@pytest.mark.slow
def test_sigint_leaves_a_loadable_checkpoint_and_config(tmp_path):
    run = tmp_path / "RUN"
    cmd = [
        sys.executable,
        "-m",
        "simic",
        "train",
        "--out",
        str(run),
        "--timesteps",
        "100000",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "100000",
        *SMALL,
    ]
    with running(cmd) as proc:
        deadline = time.time() + 60
        while not (run / "config.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # let it train a little
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 130, output
    assert "interrupted at" in output and "--resume" in output
    model = MaskablePPO.load(run / "checkpoints" / "latest.zip")
    assert model.num_timesteps > 0
    assert json.loads((run / "config.json").read_text())["timesteps"] == 100000
    assert not (run / "model.zip").exists()
