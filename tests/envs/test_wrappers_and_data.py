"""The Dict-observation mask wrapper, and the embedded data sets."""

import random

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import data as env_data
from envs.data import load_digits, load_mnist1d

from .helpers import act, make


def test_dict_mask_observation_wrapper():
    env = envs.DictMaskObservation(make())
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"observations", "action_mask"}
    assert env.observation_space.contains(obs)
    assert obs["action_mask"][0] == 1.0 and obs["action_mask"].dtype == np.float32
    germ = act(env, "germinate", "block0", "conv_light")
    assert obs["action_mask"][germ] == 1.0
    obs, *_ = env.step(germ)
    assert obs["action_mask"][germ] == 0.0
    np.testing.assert_array_equal(obs["action_mask"], env.unwrapped.action_masks())
    with pytest.warns(UserWarning, match="different from the unwrapped"):
        check_env(envs.DictMaskObservation(make()), skip_render_check=True)


def test_mnist1d_is_generated_once_cached_atomically_and_rng_neutral(tmp_path):
    states = (np.random.get_state()[1].copy(), random.getstate())
    first = load_mnist1d(str(tmp_path))
    assert np.array_equal(np.random.get_state()[1], states[0]) and random.getstate() == states[1]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"mnist1d-v{env_data.MNIST1D_CACHE_VERSION}.npz"]  # no temporary left
    second = load_mnist1d(str(tmp_path))
    assert (len(first.train), len(first.val), len(first.test)) == (3000, 1000, 1000)
    assert first.train.x.shape[1:] == (1, 40)
    for a, b in ((first.train, second.train), (first.test, second.test)):
        assert np.array_equal(a.x.numpy(), b.x.numpy()) and np.array_equal(a.y, b.y)


def test_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SIMIC_CACHE_DIR", str(tmp_path / "c"))
    assert env_data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SIMIC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert env_data.cache_dir() == tmp_path / "x" / "simic"


def test_digits_splits_are_fixed_and_disjoint():
    data = load_digits()
    assert (len(data.train), len(data.val), len(data.test)) == (1097, 350, 350)
    assert data.train.x.shape[1:] == (1, 8, 8) and float(data.train.x.max()) <= 1.0
    rows = {tuple(x.flatten().tolist()) for split in (data.val, data.test) for x in split.x}
    overlap = sum(tuple(x.flatten().tolist()) in rows for x in data.train.x[:200])
    assert overlap < 10  # digits has a few exact duplicate images; splits are by index


def test_unknown_dataset_suggests():
    with pytest.raises(envs.ConfigError.__mro__[1], match="did you mean 'digits'"):
        env_data.load_task_data("digit")


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    import os

    from envs.atomic import atomic_write_text, default_file_mode

    path = atomic_write_text(tmp_path / "sub" / "x.json", "{}")
    assert path.read_text() == "{}"
    assert os.stat(path).st_mode & 0o777 == default_file_mode()
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]
