"""Options generated from the config dataclasses: each written once, as a field with its help."""

from __future__ import annotations

import dataclasses
import re

import pytest

from simic.cli import main
from simic.cli.commands import build_parser
from simic.cli.demo import DemoConfig
from simic.cli.runs import QuickstartConfig, resume_config, train_config
from simic.common.errors import SimicError
from simic.common.options import options
from simic.evaluation import EvaluateConfig
from simic.training import PPOConfig, TrainConfig

COMMANDS = {
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "quickstart": QuickstartConfig,
    "demo": DemoConfig,
}


def _help(command: str, capsys) -> str:
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_field_has_a_flag_whose_help_is_the_field_doc(command, capsys):
    text = _help(command, capsys)
    fields = options(COMMANDS[command])
    assert fields
    for option in fields:
        assert option.help, f"{option.dest} has no help text: give it metadata=doc(...)"
        assert re.search(rf"{option.flag}\b", text), f"{option.flag} missing from --help"
        assert option.help in text


def test_defaults_shown_are_the_dataclass_defaults(capsys):
    text = _help("train", capsys)
    assert "(default 20000)" in text and "(default 64,64)" in text and "(default 0.0003)" in text
    text = _help("evaluate", capsys)
    assert "(default heuristic, random, nogrow, growall)" in text


def test_the_flags_users_rely_on_are_all_there():
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    train = set(choices["train"]._option_string_actions)
    assert {"--config", "--resume", "--env-kwargs", "--no-progress", "--net-arch"} <= train
    assert {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(PPOConfig)} <= train
    evaluate = set(choices["evaluate"]._option_string_actions)
    assert {"--policy", "--save-model", "--transfer", "--env-kwargs", "--n-envs"} <= evaluate


def _parse(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_command_line_beats_file_beats_defaults(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("seed: 5\nn_envs: 2\nppo: {gamma: 0.9, n_steps: 32}\nenv_kwargs: {budget: 4}\n")
    config = train_config(_parse("--config", str(file), "--seed", "7", "--n-steps", "64"))
    assert (config.seed, config.n_envs, config.timesteps) == (7, 2, TrainConfig().timesteps)
    assert (config.ppo.gamma, config.ppo.n_steps, config.ppo.n_epochs) == (0.9, 64, 10)
    assert config.env_kwargs == {"budget": 4}


def test_the_same_options_give_the_same_config_json():
    args = _parse("--net-arch", "32,16", "--env-kwargs", "budget=4", "--no-progress", "--seed", "3")
    expected = TrainConfig(
        seed=3, env_kwargs={"budget": 4}, progress_bar=False, ppo=PPOConfig(net_arch=(32, 16))
    )
    assert train_config(args).to_dict() == expected.to_dict()
    assert train_config(args).to_dict()["ppo"]["net_arch"] == [32, 16]


def test_resume_names_every_option_it_would_ignore():
    args = _parse("--resume", "RUN", "--gamma", "0.9", "--env-kwargs", "budget=3", "--timesteps=9")
    with pytest.raises(SimicError, match=r"drop --env-kwargs, --gamma \(only --timesteps"):
        resume_config(args)


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simic: error: "), lines
    return lines[0]


def test_an_unknown_config_key_is_one_line_with_did_you_mean(tmp_path, capsys):
    file = tmp_path / "run.yaml"
    file.write_text("timestep: 5\n")
    assert main(["train", "--config", str(file), "--out", str(tmp_path / "run")]) == 2
    assert "did you mean 'timesteps'" in _error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["train", "--timestpes", "5"], "--timestpes (did you mean --timesteps?)"),
        (["evaluate", "--polcy", "random"], "--polcy (did you mean --policy?)"),
        (["quickstart", "--episdoes", "3"], "--episdoes (did you mean --episodes?)"),
    ],
)
def test_an_unknown_flag_is_one_line_with_did_you_mean(capsys, argv, suggestion):
    assert main(argv) == 2
    line = _error_line(capsys)
    assert suggestion in line and f"(see 'simic {argv[0]} --help')" in line


def test_a_bad_value_names_the_flag(capsys):
    assert main(["train", "--net-arch", "64,x"]) == 2
    assert "argument --net-arch: '64,x' is not a comma-separated list" in _error_line(capsys)
