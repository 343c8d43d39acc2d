"""run_episode keeps its results typed: events hold GrowthActions, not strings."""

from __future__ import annotations

import pickle

import gymnasium as gym

from envs import ActionKind, GrowthAction
from simic.policies import EpisodeResult, make_policy, run_episode

ENV_ID = "simic/Grow-MNIST1D-v0"


def test_events_are_typed_actions_matching_what_the_env_reported():
    env = gym.make(ENV_ID, budget=6, batches_per_step=1, training_ticks=1, blending_ticks=1)
    result = run_episode(env, make_policy("growall", env), 0)
    assert isinstance(result, EpisodeResult)
    assert result.events and all(isinstance(a, GrowthAction) for _, a in result.events)
    assert result.events[0] == (0, GrowthAction(ActionKind.GERMINATE, "block0", "conv_heavy"))
    # The env's own string for each action is the typed action printed.
    env.reset(seed=0)
    reported = {}
    for step, action in enumerate(result.actions):
        info = env.step(action)[-1]
        reported[step] = info["action"]
    assert all(reported[step] == str(action) for step, action in result.events)
    assert pickle.loads(pickle.dumps(result)) == result  # travels from worker processes
