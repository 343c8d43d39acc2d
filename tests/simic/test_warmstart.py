"""Warm start: PPO clones a teacher's actions and returns before it learns on its own."""

import json

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO

import envs  # noqa: F401  (registers the ids)
from simic import warmstart
from simic.cli import main
from simic.policies import make_policy

KWARGS = {"budget": 6, "batches_per_step": 1}


def test_returns_to_go_are_undiscounted_sums_at_gamma_one():
    assert warmstart._returns_to_go([1.0, 2.0, 3.0], 1.0) == [6.0, 5.0, 3.0]
    assert warmstart._returns_to_go([1.0, 2.0], 0.5) == [2.0, 2.0]


def test_the_clone_plays_like_its_teacher():
    env = gym.make("simic/Grow-MNIST1D-v0", **KWARGS)
    demos = warmstart.collect(env, "growall", [10**9 + k for k in range(4)], gamma=1.0)
    assert len(demos.actions) == 4 * KWARGS["budget"]
    assert np.allclose(demos.returns[:: KWARGS["budget"]], demos.episode_returns)
    model = MaskablePPO("MlpPolicy", env, seed=0, n_steps=32, batch_size=32)
    tensors = [torch.as_tensor(a) for a in (demos.observations, demos.actions, demos.returns)]
    before = warmstart._report(model.policy, tensors[0], demos.masks, *tensors[1:], demos)
    report = warmstart.clone(model, demos, epochs=60, seed=0)
    assert report.accuracy == 1.0 and report.accuracy > before.accuracy
    assert report.value_rmse < before.value_rmse
    teacher = make_policy("growall", env.unwrapped)
    observation, _ = env.reset(seed=7)
    teacher.reset(7)
    mask = env.unwrapped.action_masks()
    action, _ = model.predict(observation, action_masks=mask, deterministic=True)
    assert int(action) == teacher.predict(observation, mask)


def test_train_warm_starts_and_reports(tmp_path, capsys):
    run = tmp_path / "RUN"
    argv = ["train", "--out", str(run), "--timesteps", "32", "--eval-every", "0"]
    argv += ["--env-kwargs", "budget=6", "batches_per_step=1", "--n-steps", "32"]
    argv += ["--batch-size", "32", "--n-epochs", "1", "--no-progress"]
    assert main([*argv, "--warm-start", "growall", "--warm-start-episodes", "2"]) == 0
    report = json.loads((run / "warm_start.json").read_text())
    assert report["episodes"] == 2 and report["samples"] == 12
    assert "warm start: cloned growall" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["warm_start"] == "growall"


def test_an_unknown_teacher_is_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--warm-start", "heuristc"]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'heuristic'" in err and "\n" not in err
