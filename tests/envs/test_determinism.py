"""Same seed + same actions = same episode; recorded episodes replay exactly; no global RNG."""

import random

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs.recording import RecordError
from tests.envs.helpers import FAST, act, make, same

SCRIPT = [
    ("germinate", "block1", "conv_light"),
    ("germinate", "block0", "depthwise"),
    ("wait",),
    ("wait",),
    ("fossilize", "block1"),
    ("prune", "block0"),
]


def _actions(env):
    return [act(env, *a) for a in SCRIPT]


def _run(env, seed, actions):
    out = [env.reset(seed=seed)]
    for a in actions:
        out.append(env.step(a))
    return out


def test_same_seed_same_actions_same_everything():
    first, second = make(budget=6), make(budget=6)
    actions = _actions(first)
    run1, run2 = _run(first, 7, actions), _run(second, 7, actions)
    assert same(run1, run2)
    infos = [r[-1] for r in run1[1:]]
    assert not any(i["invalid_action"] for i in infos)
    assert any("FOSSILIZED" in c for c in infos[4]["stage_changes"])


def test_different_seeds_differ():
    env = make()
    assert not np.array_equal(env.reset(seed=1)[0], env.reset(seed=2)[0])


def test_episode_leaves_global_rng_untouched():
    env = make(budget=4)
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    _run(env, 3, _actions(env)[:4])
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]


def test_recorded_episode_replays_with_identical_rewards(tmp_path):
    env = envs.RecordEpisode(make(budget=6))
    _run(env, 11, _actions(env))
    record = env.record
    assert record.env_id == "simic/Grow-MNIST1D-v0" and record.task == "mnist1d"
    path = record.save(tmp_path / "episode.json")
    loaded = envs.EpisodeRecord.load(path)
    assert loaded == record
    report = loaded.validate()
    assert report.ok and report.steps == 6, str(report)
    assert "every reward identical" in str(report)


def test_replay_reports_a_mismatch():
    env = envs.RecordEpisode(make(budget=3))
    _run(env, 5, [0, 0, 0])
    record = env.record
    tampered = envs.EpisodeRecord(
        record.task,
        record.kwargs,
        record.seed,
        record.actions,
        (record.rewards[0], record.rewards[1] + 1e-12, record.rewards[2]),
    )
    report = tampered.validate()
    assert not report.ok and report.first_mismatch == 1
    assert "step 1" in str(report)


def test_record_refuses_what_cannot_be_replayed(tmp_path):
    env = envs.RecordEpisode(make(budget=2))
    with pytest.raises(RecordError, match="seed"):
        env.reset()
    custom = envs.RecordEpisode(make(budget=2, reward=lambda ctx: 0.0))
    custom.reset(seed=0)
    custom.step(0)
    with pytest.raises(RecordError, match="callable reward"):
        custom.record.save(tmp_path / "x.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecordError, match="cannot read"):
        envs.EpisodeRecord.load(tmp_path / "bad.json")


def test_reset_without_seed_continues_the_generator():
    env = gym.make("simic/Grow-MNIST1D-v0", **FAST)
    a = env.reset(seed=0)[0]
    b = env.reset()[0]
    env2 = gym.make("simic/Grow-MNIST1D-v0", **FAST)
    env2.reset(seed=0)
    assert np.array_equal(env2.reset()[0], b) and not np.array_equal(a, b)
