"""Warm start: PPO clones a teacher's actions and returns before it learns on its own."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

import envs  # noqa: F401  (registers the ids)
from simic.cli import main
from simic.common.errors import SimicError
from simic.common.seeding import training_seed
from simic.policies import make_policy
from simic.training import warmstart

KWARGS = {"budget": 6, "batches_per_step": 1}


def test_returns_to_go_are_undiscounted_sums_at_gamma_one():
    assert warmstart._returns_to_go([1.0, 2.0, 3.0], 1.0) == [6.0, 5.0, 3.0]
    assert warmstart._returns_to_go([1.0, 2.0], 0.5) == [2.0, 2.0]


def test_the_clone_plays_like_its_teacher():
    env = gym.make("simic/Grow-MNIST1D-v0", **KWARGS)
    demos = warmstart.collect(env, "growall", [training_seed(k) for k in range(4)], gamma=1.0)
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


def _log_prob(model, demos) -> float:
    obs, actions = (torch.as_tensor(a) for a in (demos.observations, demos.actions))
    with torch.no_grad():
        _, log_prob, _ = model.policy.evaluate_actions(obs, actions, action_masks=demos.masks)
    return float(log_prob.mean())


def test_the_anchor_pulls_the_policy_back_to_the_teacher_after_each_update():
    env = gym.make("simic/Grow-MNIST1D-v0", **KWARGS)
    demos = warmstart.collect(env, "growall", [training_seed(k) for k in range(2)], gamma=1.0)
    model = MaskablePPO("MlpPolicy", env, seed=0, n_steps=32, batch_size=32)
    anchor = warmstart.CloneAnchor(demos, steps=5, batch_size=8, seed=0)
    anchor.init_callback(model)
    anchor.on_training_start(locals(), globals())
    start = _log_prob(model, demos)
    anchor.on_rollout_start()  # the first rollout follows no update: nothing to pull back
    assert _log_prob(model, demos) == start
    anchor.on_rollout_start()
    assert _log_prob(model, demos) > start


def test_an_anchored_run_keeps_its_demonstrations_and_a_resume_reads_them(tmp_path, capsys):
    from simic.training import sb3 as train
    from simic.training.config import TrainConfig

    run = tmp_path / "RUN"
    argv = ["train", "--out", str(run), "--timesteps", "64", "--eval-every", "0"]
    argv += ["--env-kwargs", "budget=6", "batches_per_step=1", "--n-steps", "32"]
    argv += ["--batch-size", "32", "--n-epochs", "1", "--no-progress", "--checkpoint-every", "32"]
    argv += ["--warm-start", "growall", "--warm-start-episodes", "2", "--warm-start-anchor", "3"]
    assert main(argv) == 0
    kept = warmstart.load_demonstrations(run / train.DEMOS_FILE)
    assert len(kept.actions) == 12 and kept.episode_returns[0] == kept.returns[0]
    config = TrainConfig.from_mapping(json.loads((run / "config.json").read_text()))
    assert config.warm_start_anchor == 3
    assert np.array_equal(train._anchor(config, run, None).demos.actions, kept.actions)
    (run / train.DEMOS_FILE).unlink()
    with pytest.raises(SimicError, match=r"has no demonstrations\.npz to anchor to"):
        train._anchor(config, run, None)


def test_an_anchor_without_a_teacher_is_refused(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--warm-start-anchor", "5"]) == 2
    assert "name the teacher with warm_start" in capsys.readouterr().err
