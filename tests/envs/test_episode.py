"""envs.episode: an Episode's actions, ages and views are what the env reports."""

from __future__ import annotations

import numpy as np

from envs import ActionKind, GrowthAction
from tests.envs.helpers import act


def test_the_episode_view_is_the_env_observation_and_info(make_fast_env):
    env = make_fast_env(budget=6)
    env.reset(seed=3)
    for action in [act(env, "germinate", "block1", "conv_light"), 0, 0]:
        obs, _, _, _, info = env.step(action)
    episode = env._episode
    budget, classes = env.config.budget, env.data.num_classes
    view = episode.observation_view(budget, classes, env.codec.blueprints, None)
    assert np.array_equal(env.layout.write(view), obs)
    step_info = episode.info(env.decode_action(0), False, [], info["reward_terms"])
    assert step_info == {k: v for k, v in info.items() if k != "stage_changes"} | {
        "stage_changes": ()
    }


def test_apply_counts_and_ages_the_seeds(make_fast_env):
    env = make_fast_env(budget=6)
    env.reset(seed=0)
    episode = env._episode
    episode.t = 2
    germinate = GrowthAction(ActionKind.GERMINATE, "block0", "conv_light")
    (change,) = episode.apply(germinate)
    assert change.slot_id == "block0" and change.new.name == "GERMINATED"
    assert episode.counts == {"germinated": 1, "fossilized": 0, "pruned": 0}
    episode.t = 5
    assert episode.age("block0") == 3 and episode.age("block1") == 0
    assert episode.apply(GrowthAction(ActionKind.WAIT)) == []
