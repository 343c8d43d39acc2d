"""The Dict-observation mask wrapper, and the embedded data sets."""

import io
import random

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs
from envs import data as env_data
from envs.data import BatchStream, load_digits, load_mnist1d
from kasmina import UnknownChoiceError
from tests.envs.helpers import act, make


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


def test_unknown_task_suggests():
    with pytest.raises(UnknownChoiceError, match="did you mean 'digits'"):
        envs.get_task("digit")


def test_task_data_is_loaded_once_per_process():
    # Tasks that share a loader share its data: vector envs must not hold one copy each.
    first = envs.get_task("digits").load_data()
    assert envs.get_task("digits").load_data() is first
    assert env_data.load_cached(load_digits) is first


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    import os

    from envs.atomic import atomic_write_text, default_file_mode

    path = atomic_write_text(tmp_path / "sub" / "x.json", "{}")
    assert path.read_text() == "{}"
    assert os.stat(path).st_mode & 0o777 == default_file_mode()
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """A good cache file's bytes and the data read from it (generated once for these tests)."""
    folder = tmp_path_factory.mktemp("mnist1d")
    data = load_mnist1d(str(folder))
    return (folder / f"mnist1d-v{env_data.MNIST1D_CACHE_VERSION}.npz").read_bytes(), data


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "damage",
    [
        lambda good: b"garbage bytes, not a zip file",
        lambda good: good[: len(good) // 2],  # a copy cut short
        lambda good: good[:-200],  # the zip directory cut off
        lambda good: _npz_bytes(x=np.zeros(3)),  # a readable .npz of something else
        lambda good: b"",
    ],
    ids=["garbage", "half", "tail-cut", "other-npz", "empty"],
)
def test_corrupt_mnist1d_cache_is_regenerated_atomically(
    tmp_path, monkeypatch, mnist1d_cache, damage
):
    good, expected = mnist1d_cache
    calls = []
    # Generating takes seconds; the fixture did it for real once, here we count the calls.
    with np.load(io.BytesIO(good)) as arrays:
        generated = {k: arrays[k] for k in arrays.files}
    monkeypatch.setattr(env_data, "_generate_mnist1d", lambda: calls.append(1) or generated)
    path = tmp_path / f"mnist1d-v{env_data.MNIST1D_CACHE_VERSION}.npz"
    path.write_bytes(damage(good))
    with pytest.warns(UserWarning, match=r"MNIST-1D cache .* is unreadable .*; regenerating it"):
        data = load_mnist1d(str(tmp_path))
    assert calls == [1]
    assert np.array_equal(data.train.x.numpy(), expected.train.x.numpy())
    assert np.array_equal(data.test.y.numpy(), expected.test.y.numpy())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # replaced, no temporary left
    assert env_data._read_mnist1d_cache(path).keys() == env_data.MNIST1D_SHAPES.keys()


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path, monkeypatch):
    file = tmp_path / "not-a-folder"
    file.write_text("")
    with pytest.raises(envs.ConfigError, match="is a file, not a folder"):
        envs.GrowthEnv("mnist1d", data_dir=str(file))
    monkeypatch.setenv("SIMIC_CACHE_DIR", str(file))
    with pytest.raises(env_data.DataUnavailableError, match="is a file, not a folder"):
        load_mnist1d()


def test_an_unread_batch_comes_again_and_the_stream_goes_on_unchanged():

    def stream() -> BatchStream:
        return BatchStream(10, 4, np.random.default_rng(3), torch.device("cpu"))

    taken, twin = stream(), stream()
    expected = [twin.next() for _ in range(6)]  # crosses epochs (10 indices, batches of 4)
    got = []
    for k in range(6):
        batch = taken.next()
        if k in (2, 3):  # batch 2 straddles the first epoch's end
            taken.unread()
            assert torch.equal(taken.next(), batch)
        got.append(batch)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    with pytest.raises(RuntimeError, match="follows a next"):
        stream().unread()
