"""Gymnasium's and stable-baselines3's environment checkers on every id whose data is here."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from kasmina.errors import KasminaError
from tests.envs.helpers import FAST


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


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"this is not a pickle", "cannot unpickle it"),
        (pickle.dumps({"data": [1, 2, 3]}), "expected a dict with 'data' and 'labels'"),
        (pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}), "expected uint8"),
    ],
    ids=["not-a-pickle", "no-labels", "wrong-shape"],
)
def test_cifar10_batch_that_is_not_a_batch_names_the_file(tmp_path, content, why):
    root = write_fake_cifar(tmp_path)
    bad = root / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(content)
    with pytest.raises(KasminaError) as info:  # not an UnpicklingError from deep inside
        gym.make("simic/Grow-CIFAR10-v0", data_dir=str(root))
    assert isinstance(info.value, envs.DataCorruptError)
    message = str(info.value)
    assert f"CIFAR-10 file {bad} is not a CIFAR-10 python batch" in message
    assert why in message and "\n" not in message
