"""Rewards: telescoping dense return, terminal mode, callables, divergence and OOM handling."""

import numpy as np
import pytest
import torch

import envs
from kasmina import GrowthOOMError
from tests.envs.helpers import act


def _episode(env, seed, actions):
    _, info0 = env.reset(seed=seed)
    rewards, infos = [], []
    for a in actions:
        _, r, term, _, info = env.step(a)
        rewards.append(r)
        infos.append(info)
        if term:
            break
    return info0, rewards, infos


def test_dense_return_telescopes(make_fast_env):
    env = make_fast_env(budget=6, param_rent=0.3)
    germ = act(env, "germinate", "block1", "conv_heavy")
    info0, rewards, infos = _episode(env, 4, [germ, 0, 0, 0, 0, 0])
    growth = [i["param_growth"] for i in infos]
    expected = infos[-1]["val_accuracy"] - info0["val_accuracy"] - 0.3 * np.mean(growth)
    assert sum(rewards) == pytest.approx(expected, abs=1e-9)
    assert all(
        r == pytest.approx(i["reward_terms"].total) for r, i in zip(rewards, infos, strict=True)
    )
    assert infos[2]["reward_terms"].rent == pytest.approx(-0.3 * growth[2] / 6)


def test_terminal_mode_pays_the_same_total_at_the_end(make_fast_env):
    dense, terminal = make_fast_env(budget=5), make_fast_env(budget=5, reward="terminal")
    actions = [act(dense, "germinate", "block0", "attention"), 0, 0, 0, 0]
    _, r_dense, _ = _episode(dense, 9, actions)
    _, r_term, infos = _episode(terminal, 9, actions)
    assert r_term[:-1] == [0.0] * 4
    assert r_term[-1] == pytest.approx(sum(r_dense), abs=1e-12)
    # Each earlier step holds back exactly its dense reward; the last step pays it all out.
    assert [i["reward_terms"].deferred for i in infos[:-1]] == pytest.approx(r_dense[:-1])
    assert infos[-1]["reward_terms"].deferred == pytest.approx(-sum(r_dense[:-1]), abs=1e-12)


def test_callable_reward_gets_the_context(make_fast_env):
    seen = []

    def reward(ctx: envs.RewardContext) -> float:
        seen.append(ctx)
        return ctx.val_accuracy

    env = make_fast_env(budget=2, reward=reward)
    _, rewards, infos = _episode(env, 0, [0, 0])
    assert rewards == [i["val_accuracy"] for i in infos]
    assert [c.step for c in seen] == [1, 2] and seen[-1].terminated
    assert infos[0]["reward_terms"].custom == rewards[0]


def test_test_accuracy_only_on_the_final_step(make_fast_env):
    env = make_fast_env(budget=3)
    _, _, infos = _episode(env, 0, [0, 0, 0])
    assert ["test_accuracy" in i for i in infos] == [False, False, True]


def test_divergence_ends_the_episode_with_a_penalty(make_fast_env):
    env = make_fast_env(budget=10, divergence_penalty=2.0)
    env.reset(seed=0)
    env.step(0)
    with torch.no_grad():
        next(env.model.host.parameters()).fill_(float("nan"))
    obs, reward, terminated, truncated, info = env.step(0)
    assert terminated and not truncated and info["diverged"]
    assert reward == pytest.approx(-2.0 - 0 + info["reward_terms"].rent)
    assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
    assert "test_accuracy" in info


def test_out_of_memory_prunes_the_newest_seed(make_fast_env, monkeypatch):
    env = make_fast_env(budget=10)
    env.reset(seed=0)
    env.step(act(env, "germinate", "block0", "conv_light"))
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    env.step(0)
    real = env.model.train_step
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise GrowthOOMError(3, "injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(env.model, "train_step", flaky)
    obs, reward, terminated, _, info = env.step(0)
    assert info["oom"] and not terminated and np.isfinite(reward)
    assert env.model.slot("block1").stage.name in ("PRUNED", "EMBARGOED")
    assert env.model.slot("block0").stage.is_live
    assert info["seeds_pruned"] == 1
    assert env.observation_space.contains(obs)


def test_memory_pressure_switches_checkpointing_and_is_observed(make_fast_env):
    values = iter([0.95] * 100)
    env = make_fast_env(budget=4, memory_probe=lambda device: next(values))
    env.reset(seed=0)
    obs, *_ = env.step(act(env, "germinate", "block1", "conv_heavy"))
    obs, *_ = env.step(0)
    names = {f.name: obs[i] for i, f in enumerate(env.layout.features)}
    assert names["memory_pressure"] == pytest.approx(0.95)
    assert names["checkpointing"] == 1.0
    assert env.model.slot("block1").seed.use_checkpoint
