"""The declared observation layout is what the environment returns."""

import numpy as np
import pytest

import envs
from envs.observation import UNKNOWN
from kasmina import SeedStage

from .helpers import act, fast_env


def _named(env, obs):
    return {f.name: float(obs[i]) for i, f in enumerate(env.layout.features)}


def test_layout_table_documents_every_feature():
    env = fast_env()
    table = env.layout.table()
    assert len(env.layout) == env.observation_space.shape[0]
    for feature in env.layout.features:
        assert f"`{feature.name}`" in table
    assert table.count("\n") == len(env.layout) + 1


def test_reset_observation_marks_unmeasured_values_unknown():
    env = fast_env()
    obs, info = env.reset(seed=0)
    v = _named(env, obs)
    for name in (
        "train_loss",
        "train_accuracy",
        "val_accuracy_delta",
        "val_accuracy_delta3",
        "train_loss_delta",
        "block0.contribution",
        "block1.grad_ratio",
    ):
        assert v[name] == UNKNOWN, name
    assert v["val_accuracy"] == pytest.approx(info["val_accuracy"])
    assert v["budget_used"] == 0.0 and v["param_growth"] == 0.0
    assert v["memory_pressure"] == 0.0 and v["checkpointing"] == 0.0
    assert v["block0.stage.DORMANT"] == 1.0 and v["block1.stage.DORMANT"] == 1.0


def test_observation_values_follow_the_episode():
    env = fast_env(budget=8, training_ticks=2, blending_ticks=2)
    env.reset(seed=3)
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    for t in range(2, 6):
        obs, _, _, _, info = env.step(0)
        v = _named(env, obs)
        stage = env.model.slot("block1").stage
        assert v["budget_used"] == pytest.approx(t / 8)
        assert v["val_accuracy"] == pytest.approx(info["val_accuracy"])
        assert v["train_accuracy"] == pytest.approx(info["train_accuracy"])
        assert v["train_loss"] == pytest.approx(min(info["train_loss"] / np.log(10), 3), rel=1e-6)
        assert v[f"block1.stage.{stage.name}"] == 1.0
        assert sum(v[f"block1.stage.{s.name}"] for s in SeedStage) == 1.0
        assert v["block1.blueprint.conv_heavy"] == 1.0 and v["block1.blueprint.conv_light"] == 0
        assert v["block1.alpha"] == pytest.approx(env.model.slot("block1").alpha)
        assert v["block1.contribution"] != UNKNOWN and -1 <= v["block1.contribution"] <= 1
        assert 0 < v["block1.grad_ratio"] < 1
        assert v["block0.contribution"] == UNKNOWN
        assert v["param_growth"] == pytest.approx(info["param_growth"] / (1 + info["param_growth"]))
    assert v["val_accuracy_delta3"] != UNKNOWN


def test_contribution_is_the_counterfactual_accuracy_difference():
    env = fast_env(budget=10, training_ticks=1, blending_ticks=1)
    env.reset(seed=2)
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    while env.model.slot("block1").stage is not SeedStage.HOLDING:
        env.step(0)
    obs, *_ = env.step(0)  # measured in HOLDING, where the lifecycle tick changes nothing
    v = _named(env, obs)
    with_seed = env._evaluate(env.data.val)[1]
    with env.model.switched_off("block1"):
        without = env._evaluate(env.data.val)[1]
    assert v["block1.contribution"] == pytest.approx(
        np.clip(5 * (with_seed - without), -1, 1), abs=1e-6
    )


def test_observation_finish_clips_and_keeps_sentinels():
    layout = envs.ObservationLayout(["s"], ["b"])
    values = layout.empty().astype(np.float64)
    values[layout.index["val_loss"]] = np.inf
    values[layout.index["val_accuracy"]] = np.nan
    values[layout.index["s.contribution"]] = 7.0
    out = layout.finish(values)
    assert out[layout.index["val_loss"]] == 3.0
    assert out[layout.index["val_accuracy"]] == 0.0
    assert out[layout.index["s.contribution"]] == 1.0
    assert out[layout.index["train_loss"]] == UNKNOWN
    assert layout.space.contains(out)
