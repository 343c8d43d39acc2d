"""Task families with hidden factors: drawn per episode, never observed, pinned on request."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs import HiddenFactor, InstanceError, TaskFamily
from kasmina import UnknownChoiceError, UserError
from tests.envs.helpers import FAST, act

LR = HiddenFactor("host_lr", (1e-3, 1e-2))
FAMILY = TaskFamily(
    "x/Hidden-v0",
    "two instances, a hidden learning rate, classes arriving",
    ("mnist1d-w4x8-rent0.05", "mnist1d-w8x16-rent0.05"),
    hidden=(LR, HiddenFactor("class_shift_step", (1, 3))),
    fixed=(("early_classes", 5),),
)


def _env(**kwargs) -> envs.FamilyGrowthEnv:
    return envs.FamilyGrowthEnv(FAMILY, **{**FAST, **kwargs})


def test_hidden_values_are_drawn_per_episode_seeded_and_reported() -> None:
    env = _env()
    drawn = {tuple(env.reset(seed=s)[1]["hidden"].items()) for s in range(12)}
    assert len(drawn) == 4  # both factors vary
    _, info = env.reset(seed=3)
    assert env.reset(seed=3)[1]["hidden"] == info["hidden"]
    assert env.config.host_lr == info["hidden"]["host_lr"] and env.config.early_classes == 5


def test_hidden_values_are_not_observed() -> None:
    # the first observation depends on the instance and the seed, not on the factors
    env = _env()
    a, _ = env.reset(seed=5, options={"hidden": {"host_lr": 1e-3, "class_shift_step": 1}})
    b, _ = env.reset(seed=5, options={"hidden": {"host_lr": 1e-2, "class_shift_step": 3}})
    assert np.array_equal(a, b)


def test_a_pinned_episode_equals_the_plain_env_configured_alike() -> None:
    env = envs.RecordEpisode(_env(budget=3))
    pinned = {"host_lr": 1e-2, "class_shift_step": 1}
    env.reset(seed=2, options={"instance": "mnist1d-w8x16-rent0.05", "hidden": pinned})
    plain = envs.GrowthEnv(**env.unwrapped.init_kwargs)
    plain.reset(seed=2)
    steps = [act(env, "germinate", "block1", "conv_light"), 0, 0]
    assert [env.step(a)[1] for a in steps] == [plain.step(a)[1] for a in steps]
    assert env.unwrapped.init_kwargs["host_lr"] == 1e-2
    assert env.record.validate().ok  # the recorded kwargs replay the hidden draw


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        ({"host_lr": 3e-3, "class_shift_step": 1}, r"unknown host_lr value 0\.003"),
        ({"host_lr": 1e-3}, "lacks class_shift_step"),
        ({"host_lr": 1e-3, "class_shift_step": 1, "seed_lr": 1}, "'seed_lr'"),
        ("fast", "must map"),
    ],
)
def test_bad_pins_raise_one_line(hidden, message) -> None:
    with pytest.raises(UserError, match=message) as info:
        _env().reset(seed=0, options={"hidden": hidden})
    assert "\n" not in str(info.value)


def test_bad_factors_and_clashing_keywords_are_refused() -> None:
    with pytest.raises(UnknownChoiceError, match="did you mean 'host_lr'"):
        HiddenFactor("host_lrr", (1, 2))
    with pytest.raises(InstanceError, match="two or more distinct values"):
        HiddenFactor("host_lr", (1e-3, 1e-3))
    with pytest.raises(InstanceError, match="hides a keyword twice"):
        TaskFamily("x/Twice-v0", "", ("mnist1d-w4x8-rent0",), hidden=(LR, LR))
    with pytest.raises(envs.ConfigError, match="sets host_lr itself"):
        _env(host_lr=1e-3)
    bad = TaskFamily(
        "x/Bad-v0", "", ("mnist1d-w4x8-rent0",), (HiddenFactor("host_lr", (1e-3, -1)),)
    )
    with pytest.raises(envs.ConfigError, match="host_lr"):
        envs.FamilyGrowthEnv(bad)  # every value is checked when the env is built
