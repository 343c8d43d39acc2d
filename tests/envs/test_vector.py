"""Vector environments: Gymnasium's make_vec (sync and async) and SB3's Dummy/SubprocVecEnv."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import envs
from tests.envs.helpers import FAST


def _make():
    return gym.make("simic/Grow-MNIST1D-v0", **FAST)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_make_vec(mode):
    vec = gym.make_vec("simic/Grow-MNIST1D-v0", num_envs=2, vectorization_mode=mode, **FAST)
    try:
        obs, _ = vec.reset(seed=[1, 2])
        assert obs.shape == (2, *vec.single_observation_space.shape)
        for _ in range(FAST["budget"]):
            obs, _rewards, terminated, truncated, infos = vec.step(np.zeros(2, dtype=np.int64))
        assert terminated.all() and not truncated.any()
        assert infos["_test_accuracy"].all()
        masks = np.stack(vec.call("action_masks"))
        assert masks.shape == (2, vec.single_action_space.n) and masks[:, 0].all()
    finally:
        vec.close()


def test_sync_and_async_give_the_same_numbers():
    results = []
    for mode in ("sync", "async"):
        vec = gym.make_vec("simic/Grow-MNIST1D-v0", num_envs=2, vectorization_mode=mode, **FAST)
        obs, _ = vec.reset(seed=[5, 6])
        _, rewards, *_ = vec.step(np.array([1, 0]))
        results.append((obs, rewards))
        vec.close()
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("vec_cls", [DummyVecEnv, SubprocVecEnv])
@pytest.mark.slow
def test_sb3_vec_envs_expose_action_masks(vec_cls):
    vec = vec_cls([_make, _make])
    try:
        vec.seed(3)
        obs = vec.reset()
        assert obs.shape == (2, *vec.observation_space.shape)
        masks = get_action_masks(vec)  # how MaskablePPO reads them
        assert masks.shape == (2, vec.action_space.n) and masks[:, 0].all()
        assert masks[:, 1:].any()
        vec.step_async(np.array([0, 0]))
        obs, rewards, _dones, infos = vec.step_wait()
        assert np.isfinite(rewards).all() and len(infos) == 2
    finally:
        vec.close()


def test_env_limits_torch_threads_while_it_works_and_restores_them():
    seen = []
    env = envs.GrowthEnv(
        "mnist1d", **FAST, memory_probe=lambda device: seen.append(torch.get_num_threads()) or 0.0
    )
    before = torch.get_num_threads()
    # The test session runs on one thread (root conftest); 2 makes the env's own setting show.
    torch.set_num_threads(2)
    try:
        env.reset(seed=0)
        env.step(0)
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
