"""Every GrowthEnv keyword argument with a value of the wrong type or range: one clear error."""

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs
from kasmina.errors import KasminaError
from tests.envs.helpers import FAST

_INT = ["abc", 2.5, None, True, [1]]
_NUMBER = ["abc", None, True, [1], float("nan")]
_BOOL = ["yes", 1, None, [True]]

BAD_VALUES: dict[str, list[object]] = {
    "budget": [*_INT, 0],
    "batches_per_step": _INT,
    "batch_size": _INT,
    "optimizer": [3, None, ["adam"], "adamm"],
    "host_lr": [*_NUMBER, 0.0],
    "seed_lr": [*_NUMBER, -1.0],
    "weight_decay": [*_NUMBER, -0.1],
    "val_batch_size": _INT,
    "train_fraction": [*_NUMBER, 0.0, 1.5],
    "early_classes": ["1", 1.5, True, [1], 0],
    "class_shift_step": [*_INT, -1],
    "host_widths": [3, "8x16", [], [8, 0], [8, True], [2.5], {8: 16}],
    "slots": [3, "block0", [1], [], ["block0", "block0"], {"block0"}],
    "blueprints": [3, "conv_light", [1], [], {"conv_light"}],
    "training_ticks": _INT,
    "blending_ticks": _INT,
    "embargo_ticks": _INT,
    "alpha_schedule": [3, None, ["linear"], "linaer"],
    "min_prune_age": [*_INT, -1],
    "reward": [3, None, ["dense"], "dens"],
    "param_rent": _NUMBER,
    "invalid_action_penalty": _NUMBER,
    "divergence_penalty": _NUMBER,
    "strict": _BOOL,
    "device": [3, None, ["cpu"], "cpux"],
    "torch_threads": ["1", 1.5, True, [1], 0],
    "data_dir": [[1], 3, b"data", ""],
    "memory_probe": [3, "probe", [None]],
    "record_timing": _BOOL,
}

CASES = [(name, value) for name, values in BAD_VALUES.items() for value in values]


def test_every_config_field_has_bad_values_under_test():
    assert set(BAD_VALUES) == {f.name for f in dataclasses.fields(envs.GrowthEnvConfig)}


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_bad_keyword_value_gives_one_clear_line(name, value):
    with pytest.raises(KasminaError) as info:
        gym.make("simic/Grow-MNIST1D-v0", **{name: value})
    message = str(info.value)
    assert "\n" not in message
    assert name in message, message  # the keyword, as the user typed it
    assert repr(value) in message or repr(list(value)) in message, message
    # gymnasium re-raises TypeErrors as `type(e)(text + kwargs)`; ours must pass through intact
    assert "environment creator" not in message


def test_the_issues_examples_name_the_value_and_what_is_valid():
    cases = {
        "host_lr": ("abc", "GrowthEnv host_lr must be a finite number > 0, got 'abc'"),
        "data_dir": ([1], "data_dir must be a folder path (str or os.PathLike) or None, got [1]"),
        "memory_probe": (3, "memory_probe must be a callable"),
    }
    for name, (value, expected) in cases.items():
        with pytest.raises(envs.ConfigError) as info:
            gym.make("simic/Grow-MNIST1D-v0", **{name: value})
        assert expected in str(info.value)


def test_unknown_task_of_any_type_is_a_clear_error():
    for task in ([1], 3, None):
        with pytest.raises(KasminaError, match="unknown task") as info:
            envs.GrowthEnv(task)
        assert repr(task) in str(info.value)


def test_good_values_of_other_accepted_types_still_work(tmp_path):
    env = envs.GrowthEnv(
        "digits",
        **FAST,
        slots=("block1",),
        blueprints=("conv_light",),
        strict=np.bool_(True),
        data_dir=Path(tmp_path),
        memory_probe=lambda device: 0.0,
        host_lr=1,  # an int is a number
    )
    assert env.config.slots == ("block1",) and env.config.strict is True
    assert env.config.data_dir == str(tmp_path)  # normalised: one memoised data set per folder
    env.reset(seed=0)
    env.step(0)
