"""Gymnasium vector-env conventions of BatchedGrowthEnv: spaces, seeding, autoreset, close,
masks, errors, determinism, registration."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import envs
from kasmina.errors import UserError
from tests.envs.helpers import FAST, act, same


def test_spaces_batch_the_single_env(batched) -> None:
    single = envs.GrowthEnv(**FAST)
    assert batched.single_observation_space == single.observation_space
    assert batched.single_action_space == single.action_space
    assert batched.observation_space.shape == (3, *single.observation_space.shape)
    assert batched.action_space == spaces.MultiDiscrete([single.action_space.n] * 3)
    obs, infos = batched.reset(seed=0)
    assert obs in batched.observation_space
    assert infos["action_mask"].shape == (3, single.action_space.n)


def test_make_vec_returns_it_for_batchable_ids_only() -> None:
    vec = gym.make_vec(
        "simic/Grow-Digits-v0", num_envs=2, vectorization_mode="vector_entry_point", **FAST
    )
    assert isinstance(vec, envs.BatchedGrowthEnv) and vec.num_envs == 2
    assert vec.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert "simic/Grow-MNIST1D-Transformer-v0" not in envs.BATCHABLE_IDS
    with pytest.raises(gym.error.Error, match="vector entry point"):
        gym.make_vec("simic/Grow-MNIST1D-Transformer-v0", 2, "vector_entry_point")


def test_transformer_task_is_refused_in_one_line_naming_the_ids() -> None:
    with pytest.raises(envs.ConfigError) as err:
        envs.BatchedGrowthEnv(2, task="mnist1d-transformer")
    message = str(err.value)
    assert "\n" not in message and all(i in message for i in envs.BATCHABLE_IDS)


def test_reset_seeds_env_e_with_s_plus_e(batched) -> None:
    obs, infos = batched.reset(seed=11)
    for e in range(3):
        single_obs, info = envs.GrowthEnv(**{**FAST, "budget": 2}).reset(seed=11 + e)
        np.testing.assert_array_equal(obs[e], single_obs)
        assert infos["val_accuracy"][e] == info["val_accuracy"]


def test_episodes_are_deterministic_for_a_seed() -> None:
    def run() -> list:
        env = envs.BatchedGrowthEnv(2, **{**FAST, "budget": 2})
        out = [env.reset(seed=5)]
        germinate = act(env.envs[0], "germinate", "block1", "conv_light")
        out += [env.step(np.array([germinate, 0])) for _ in range(3)]
        return out

    assert same(run(), run())


def test_next_step_autoreset_ignores_the_action_and_restarts(batched) -> None:
    batched.reset(seed=0)
    batched.step(np.zeros(3, dtype=int))
    _, _, terminated, _, infos = batched.step(np.zeros(3, dtype=int))
    assert terminated.all() and "test_accuracy" in infos
    obs, rewards, terminated, truncated, infos = batched.step(np.ones(3, dtype=int))
    assert not terminated.any() and not truncated.any() and (rewards == 0).all()
    assert (infos["step"] == 0).all()  # the reset's info, the action was not played
    assert (obs[:, 0] == 0).all()  # budget_used


def test_same_step_autoreset_reports_the_final_observation() -> None:
    env = envs.BatchedGrowthEnv(2, autoreset_mode="SameStep", **{**FAST, "budget": 1})
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    env.reset(seed=0)
    obs, _, terminated, _, infos = env.step(np.zeros(2, dtype=int))
    assert terminated.all() and (obs[:, 0] == 0).all()
    assert all(o[0] == 1 for o in infos["final_obs"])  # the final step used the whole budget
    assert "test_accuracy" in infos["final_info"]


def test_a_bad_action_in_one_env_leaves_the_others_alone(batched) -> None:
    batched.reset(seed=0)
    fossilize = act(batched.envs[0], "fossilize", "block0")  # nothing HOLDING: masked
    _, rewards, _, _, infos = batched.step(np.array([0, fossilize, 0]))
    assert list(infos["invalid_action"]) == [False, True, False]
    single = envs.GrowthEnv(**{**FAST, "budget": 2})
    single.reset(seed=1)
    assert rewards[1] == pytest.approx(single.step(fossilize)[1], abs=1e-6)
    with pytest.raises(envs.InvalidActionError, match="env 2:"):
        batched.step(np.array([0, 0, 2.5], dtype=object))
    strict = envs.BatchedGrowthEnv(2, strict=True, **FAST)
    strict.reset(seed=0)
    germinate = act(strict.envs[0], "germinate", "block0", "conv_light")
    with pytest.raises(envs.InvalidActionError, match=r"env 1: .*FOSSILIZE needs a HOLDING"):
        strict.step(np.array([germinate, fossilize]))
    assert strict.envs[0].model.slot("block0").stage.name == "DORMANT"  # nothing was applied


def test_wrong_arguments_raise_one_line_errors() -> None:
    with pytest.raises(UserError, match="num_envs"):
        envs.BatchedGrowthEnv(0)
    with pytest.raises(UserError, match="NextStep"):
        envs.BatchedGrowthEnv(1, autoreset_mode="sometimes")
    env = envs.BatchedGrowthEnv(2, **FAST)
    with pytest.raises(envs.InvalidActionError, match="expected 2 actions"):
        env.reset(seed=0) and env.step(np.zeros(3, dtype=int))


def test_close_closes_and_step_before_reset_says_reset(batched) -> None:
    with pytest.raises(Exception, match="reset"):
        batched.step(np.zeros(3, dtype=int))
    batched.close()
    assert batched.closed
