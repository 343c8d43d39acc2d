"""What the host trains on: a fraction of the split, and classes arriving at a step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from envs.config import ConfigError
from envs.data import BatchStream
from kasmina import UserError
from tests.envs.helpers import FAST, fast_env


def _drawn(env: envs.GrowthEnv, batches: int) -> list[torch.Tensor]:
    stream = env._ep.batches
    return [stream.next() for _ in range(batches)]


def test_a_fraction_of_the_split_is_all_the_host_sees() -> None:
    env = fast_env(train_fraction=0.1)
    env.reset(seed=0)
    size = env.config.train_size(len(env.data.train))
    assert size == 300  # 10% of MNIST-1D's 3000 training samples
    seen = torch.cat(_drawn(env, 20))  # > 4 epochs of 300
    assert int(seen.max()) < size and len(torch.unique(seen)) == size
    assert envs.GrowthEnvConfig(train_fraction=0.001).train_size(3000) == 64  # one batch at least


def test_early_classes_only_until_the_shift_step() -> None:
    env = fast_env(early_classes=3, class_shift_step=2, batches_per_step=4)
    env.reset(seed=0)
    labels = env.data.train.y
    early, late = _drawn(env, 8), _drawn(env, 30)  # 2 steps x 4 batches, then all classes
    assert all(int(labels[b].max()) < 3 for b in early)
    assert set(labels[torch.cat(late)].tolist()) == set(range(10))


def test_a_shift_at_step_zero_is_the_plain_env() -> None:
    plain, shifted = fast_env(), fast_env(early_classes=5, class_shift_step=0)
    plain.reset(seed=4), shifted.reset(seed=4)
    assert all(
        torch.equal(a, b) for a, b in zip(_drawn(plain, 12), _drawn(shifted, 12), strict=True)
    )


def test_early_classes_must_leave_classes_to_arrive() -> None:
    env = fast_env(early_classes=10, class_shift_step=3)
    with pytest.raises(
        ConfigError, match=r"early_classes must be below .* 10 classes \(1..9\), got 10"
    ):
        env.reset(seed=0)


def test_an_unread_batch_at_the_shift_comes_again() -> None:
    def stream() -> BatchStream:
        early = np.array([0, 2, 4, 6, 8])
        return BatchStream(
            10, 3, np.random.default_rng(1), torch.device("cpu"), early=early, early_batches=2
        )

    taken, twin = stream(), stream()
    expected = [twin.next() for _ in range(5)]
    got = []
    for k in range(5):
        batch = taken.next()
        if k in (1, 2):  # the last early batch, the first of all classes
            taken.unread()
            assert torch.equal(taken.next(), batch)
        got.append(batch)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert all(int(b.max()) % 2 == 0 for b in expected[:2])


@pytest.mark.slow
def test_batched_envs_shift_as_the_single_env_does() -> None:
    kwargs = {**FAST, "budget": 3, "batches_per_step": 2, "early_classes": 4, "class_shift_step": 1}
    batched = envs.BatchedGrowthEnv(2, train_fraction=0.5, **kwargs)
    singles = [envs.GrowthEnv(train_fraction=0.5, **kwargs) for _ in range(2)]
    obs, _ = batched.reset(seed=3)
    for e, single in enumerate(singles):
        single.reset(seed=3 + e)
    for _ in range(3):
        obs, rewards, *_ = batched.step(np.zeros(2, dtype=np.int64))
        for e, single in enumerate(singles):
            expected, reward, *_ = single.step(0)
            np.testing.assert_allclose(obs[e], expected, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(rewards[e], reward, rtol=1e-4, atol=1e-5)


def test_early_classes_absent_from_the_fraction_trained_on_are_refused_in_one_line() -> None:
    env = fast_env(early_classes=1, class_shift_step=2, train_fraction=0.001, batch_size=2)
    with pytest.raises(UserError, match="early_classes=1: the first 3 training samples hold none"):
        env.reset(seed=0)
