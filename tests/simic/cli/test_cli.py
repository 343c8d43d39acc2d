"""The ``simic`` command line, run in process through ``main([...])``."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import pytest
import torch

import envs
from kasmina import BlueprintRegistry, CNNHost, IllegalTransitionError, SeedStage
from simic.cli import main
from simic.cli import runs as cli_runs


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("simic: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: simic" in err and "demo" in err and "blueprints" in err


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "usage: simic" in capsys.readouterr().out


def test_demo_runs(capsys):
    assert main(["demo", "--steps", "24", "--seed", "1", "--blueprints", "norm", "attention"]) == 0
    out = capsys.readouterr().out
    assert "block0     DORMANT -> GERMINATED  norm" in out
    assert "summary" in out
    assert "activation checkpointing: off (no memory pressure on cpu)" in out


def test_bad_blueprint_name_suggests_the_closest(capsys):
    assert main(["demo", "--blueprints", "conv_lite", "attention"]) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert "did you mean 'conv_light'" in line.lower()
    assert captured.out == ""  # rejected before anything ran


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["demo", "--steps", "5"], "steps >= 23"),
        (["demo", "--steps", "x"], "invalid int value"),
        (["demo", "--device", "cuda0"], "did you mean 'cuda'"),
        (["demo", "--blueprints", "norm"], "expected 2 arguments"),
        (["blueprints", "--dim", "0"], "dim must be a positive int"),
        (["blueprints", "--spatial-dims", "3"], "invalid choice"),
        (["bogus"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line_with_status_2(capsys, argv, expected):
    assert main(argv) == 2
    assert expected in _one_error_line(capsys.readouterr().err).lower()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_user_error(capsys):
    assert main(["demo", "--device", "cuda"]) == 2
    assert "not available" in _one_error_line(capsys.readouterr().err)


def _table(out: str) -> dict[str, list[str]]:
    rows = [line.split() for line in out.splitlines()[1:] if not line.startswith("(")]
    return {f"{r[0]}/{r[1]}": r for r in rows}


def test_blueprints_lists_transformer_blueprints_with_counts(capsys):
    assert main(["blueprints", "--topology", "transformer"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["topology", "name", "params@64", "checkpoint"]
    table = _table(out)
    assert set(table) == {f"transformer/{n}" for n in BlueprintRegistry.names("transformer")}
    counts = []
    for key, row in table.items():
        spec = BlueprintRegistry.spec("transformer", key.split("/")[1])
        assert int(row[2].replace(",", "")) == spec.param_count(64)
        assert row[3] == ("yes" if spec.supports_checkpoint else "no")
        counts.append(int(row[2].replace(",", "")))
    assert counts == sorted(counts)
    assert {"transformer/mlp", "transformer/lora"} <= set(table)


def test_blueprints_counts_cnn_at_the_given_dim_and_spatial_dims(capsys):
    assert main(["blueprints", "--topology", "cnn", "--dim", "8", "--spatial-dims", "1"]) == 0
    table = _table(capsys.readouterr().out)
    row = table["cnn/conv_light"]
    spec = BlueprintRegistry.spec("cnn", "conv_light")
    assert int(row[2].replace(",", "")) == spec.param_count(8, spatial_dims=1)


def test_blueprints_without_topology_lists_both(capsys):
    assert main(["blueprints"]) == 0
    topologies = {key.split("/")[0] for key in _table(capsys.readouterr().out)}
    assert topologies == {"cnn", "transformer"}


def test_bad_topology_suggests_the_closest(capsys):
    assert main(["blueprints", "--topology", "transfomer"]) == 2
    assert "did you mean 'transformer'" in _one_error_line(capsys.readouterr().err).lower()


def test_main_reads_sys_argv_when_called_without_arguments(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["simic", "blueprints", "--topology", "cnn"])
    assert main() == 0
    assert "conv_light" in capsys.readouterr().out


@pytest.mark.slow
def test_python_dash_m_simic_exits_with_the_status():
    # The real process: ``python -m simic`` wiring and the exit status, without a traceback.
    result = subprocess.run(
        [sys.executable, "-m", "simic", "blueprints", "--topology", "cnnn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "did you mean 'cnn'" in _one_error_line(result.stderr).lower()


def test_blueprints_at_a_width_lists_only_what_builds_there(capsys):
    assert main(["blueprints", "--topology", "transformer", "--dim", "30"]) == 0
    out = capsys.readouterr().out
    assert "mlp_small" in out and "attention" not in out


CONFIG_FILES = {
    "ppo_not_a_mapping.yaml": (b"ppo: 5\n", "ppo must be a mapping"),
    "net_arch_not_a_list.yaml": (b"ppo: {net_arch: 64}\n", "ppo.net_arch must be a list"),
    "not_utf8.yaml": (b"\xff\xfe\x00timesteps: 5\n", "is not utf-8 text"),
    "env_kwargs_not_a_mapping.yaml": (b"env_kwargs: [1]\n", "env_kwargs must be a mapping"),
    "flat_ppo_key.yaml": (b"n_steps: 64\n", "did you mean 'ppo.n_steps'"),
    "misspelled_ppo_key.yaml": (b"ppo: {gama: 0.9}\n", "did you mean 'gamma'"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_bad_config_files_are_one_line(tmp_path, capsys, name):
    content, expected = CONFIG_FILES[name]
    file = tmp_path / name
    file.write_bytes(content)
    # --env-kwargs too, so the file's sections are merged with the command line's
    argv = ["train", "--config", str(file), "--out", str(tmp_path / "run")]
    assert main([*argv, "--env-kwargs", "budget=4", "--gamma", "0.9"]) == 2
    assert expected in _one_error_line(capsys.readouterr().err).lower()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["train", "--device", "banana"], "unknown device 'banana'"),
        (["evaluate", "--device", "banana"], "unknown device 'banana'"),
        (["train", "--n-steps", "1"], "leaves a minibatch of one sample"),
        (["train", "--n-steps", "65", "--batch-size", "64"], "leaves a minibatch of one sample"),
        (["train", "--batch-size", "1"], "ppo.batch_size must be an int >= 2"),
        (["train", "--gama", "0.9"], "--gama (did you mean --gamma?)"),
        (["train", "--gama", "0.9"], "(see 'simic train --help')"),
        (["evaluate", "--episodes", "x"], "(see 'simic evaluate --help')"),
    ],
)
def test_train_and_evaluate_user_errors_are_one_line(tmp_path, capsys, argv, expected):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert expected in _one_error_line(capsys.readouterr().err).lower()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_an_out_path_under_a_file_is_one_line(tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [command, "--out", str(blocker / "x"), "--env-kwargs", "budget=3"]
    assert main(argv) == 2
    assert "cannot be written (not a directory)" in _one_error_line(capsys.readouterr().err).lower()


def test_ctrl_c_before_any_work_is_saved_exits_130_without_a_traceback(monkeypatch, capsys):
    from simic.cli import runs as cli_runs

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_runs, "run_evaluate", interrupted)
    assert main(["evaluate", "--policy", "nogrow"]) == 130
    assert capsys.readouterr().err.strip() == "simic: interrupted"


def test_envs_lists_every_task_spec(monkeypatch, capsys):
    # A spec that was never registered with gymnasium still shows: the listing reads the specs.
    extra = envs.TaskSpec(
        env_id="simic/Grow-Extra-v0",
        name="extra",
        description="a spec added by this test",
        host_factory=partial(CNNHost, 1, 10, (4,), spatial_dims=1),
        blueprints=("conv_light",),
        loader=envs.TASKS["digits"].loader,
    )
    monkeypatch.setitem(envs.TASKS, "extra", extra)
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for spec in envs.TASKS.values():
        assert f"  {spec.env_id}: {spec.description}" in out
        assert any(line.startswith(spec.env_id + " ") for line in out.splitlines())


def test_a_user_error_is_one_line_with_status_2(capsys):
    assert main(["evaluate", "--env", "simic/Grow-Digit-v0"]) == 2
    assert "did you mean 'simic/Grow-Digits-v0'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "bug",
    [
        IllegalTransitionError("block0", SeedStage.DORMANT, SeedStage.FOSSILIZED, []),
        RuntimeError("a bug"),
        TypeError("another bug"),
    ],
)
def test_a_bug_keeps_its_traceback(monkeypatch, bug):
    def broken(args):
        raise bug

    monkeypatch.setattr(cli_runs, "run_envs", broken)
    with pytest.raises(type(bug)) as info:
        main(["envs"])
    assert info.value is bug and info.traceback[-1].name == "broken"


@pytest.mark.slow
def test_a_bug_prints_a_traceback_from_the_console_script():
    script = (
        "import sys; from simic.cli import main; from simic.cli import runs as cli_runs\n"
        "def broken(args): raise RuntimeError('a bug')\n"
        "cli_runs.run_envs = broken\n"
        "sys.exit(main(['envs']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: a bug" in result.stderr
    assert "simic: error" not in result.stderr
