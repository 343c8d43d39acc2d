"""Property test: hundreds of random masked actions never break the environment's contract."""

import zlib

import numpy as np
import pytest

import envs
from tests.envs.helpers import make

# The transformer host's validation pass is ~20x the CNNs' on CPU: fewer steps there.
STEPS = {
    "simic/Grow-MNIST1D-v0": 140,
    "simic/Grow-Digits-v0": 140,
    "simic/Grow-MNIST1D-Transformer-v0": 40,
}


def test_at_least_300_actions_in_all():
    assert set(STEPS) == set(envs.EMBEDDED_IDS) and sum(STEPS.values()) >= 300


@pytest.mark.parametrize("env_id", envs.EMBEDDED_IDS)
@pytest.mark.slow
def test_random_masked_actions(env_id):
    env = make(env_id, budget=6)
    # crc32, not hash(): str hashes are salted per process, so the test would change every run.
    rng = np.random.default_rng(zlib.crc32(env_id.encode()))
    obs, _ = env.reset(seed=1)
    steps = episodes = 0
    seen = set()
    while steps < STEPS[env_id]:
        assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
        mask = env.unwrapped.action_masks()
        assert mask.dtype == bool and mask.shape == (env.action_space.n,) and mask[0]
        action = int(rng.choice(np.flatnonzero(mask)))
        seen.add(env.unwrapped.decode_action(action).kind)
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        assert np.isfinite(reward) and not truncated and not info["invalid_action"]
        if terminated:
            assert 0.0 <= info["test_accuracy"] <= 1.0
            episodes += 1
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
    assert episodes >= STEPS[env_id] // 6 - 1
    assert {envs.ActionKind.GERMINATE, envs.ActionKind.WAIT} <= seen
    assert envs.ActionKind.FOSSILIZE in seen or envs.ActionKind.PRUNE in seen
