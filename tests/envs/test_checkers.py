"""Gymnasium's and stable-baselines3's environment checkers on every id whose data is here."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs

from .helpers import FAST


@pytest.mark.parametrize("env_id", envs.EMBEDDED_IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id, **FAST)
    gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", envs.EMBEDDED_IDS)
def test_sb3_check_env(env_id):
    env = gym.make(env_id, **FAST)
    sb3_check_env(env.unwrapped, warn=True)


def test_every_id_is_registered():
    for env_id, task in envs.ENV_IDS.items():
        assert gym.spec(env_id).kwargs["task"] == task


def write_fake_cifar(root, per_batch=20):
    """Files in the standard cifar-10-batches-py layout, with random images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    return root


def test_cifar10_env_with_local_data_passes_checks(tmp_path):
    root = write_fake_cifar(tmp_path)
    env = gym.make("simic/Grow-CIFAR10-v0", data_dir=str(root), **FAST)
    gym_check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.data.train.x.shape == (90, 3, 32, 32)


def test_cifar10_without_data_says_how_to_get_it(tmp_path):
    with pytest.raises(envs.DataUnavailableError, match="cifar-10-batches-py") as info:
        gym.make("simic/Grow-CIFAR10-v0", data_dir=str(tmp_path))
    assert "data_batch_1" in str(info.value) and "download=True" in str(info.value)
    with pytest.raises(envs.DataUnavailableError, match="needs data_dir"):
        gym.make("simic/Grow-CIFAR10-v0")
