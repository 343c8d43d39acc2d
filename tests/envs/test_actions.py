"""Action encoding, masks, invalid actions and strict mode."""

import itertools

import numpy as np
import pytest
import torch

import envs
from envs.actions import ActionCodec, InvalidActionError
from kasmina import KasminaError, SeedStage, UnexpectedKeywordError, UnknownChoiceError, UserError
from tests.envs.helpers import act, make

CODEC = ActionCodec(("block0", "block1"), ("attention", "conv_light", "conv_heavy"))


def test_encode_decode_round_trip_covers_every_action():
    decoded = [CODEC.decode(i) for i in range(CODEC.n)]
    assert CODEC.n == 1 + 2 * 3 + 2 * 2
    assert len(set(decoded)) == CODEC.n
    assert all(CODEC.encode(a) == i for i, a in enumerate(decoded))
    assert str(decoded[0]) == "WAIT"
    assert str(CODEC.decode(5)) == "GERMINATE(block1, conv_light)"
    assert str(CODEC.decode(CODEC.n - 1)) == "PRUNE(block1)"


def test_decode_and_encode_errors():
    with pytest.raises(InvalidActionError, match=r"0\.\.10"):
        CODEC.decode(11)
    with pytest.raises(UnknownChoiceError, match="did you mean 'block1'"):
        CODEC.encode(envs.GrowthAction(envs.ActionKind.PRUNE, "blok1"))
    with pytest.raises(UnknownChoiceError, match="did you mean 'conv_heavy'"):
        CODEC.encode(envs.GrowthAction(envs.ActionKind.GERMINATE, "block0", "conv_hevy"))
    with pytest.raises(UserError, match="malformed"):
        envs.GrowthAction(envs.ActionKind.GERMINATE, "block0")


@pytest.mark.parametrize("stages", list(itertools.product(SeedStage, repeat=2)))
def test_mask_rules(stages):
    mask = CODEC.masks(stages, [3, 0], min_prune_age=2)
    assert mask[0]
    for i in range(1, CODEC.n):
        action = CODEC.decode(i)
        s = CODEC.slots.index(action.slot)
        stage, age = stages[s], [3, 0][s]
        expected = {
            envs.ActionKind.GERMINATE: stage is SeedStage.DORMANT,
            envs.ActionKind.FOSSILIZE: stage is SeedStage.HOLDING,
            envs.ActionKind.PRUNE: stage.is_live and age >= 2,
        }[action.kind]
        assert mask[i] == expected, (action, stage)


def test_invalid_action_is_a_penalised_noop(make_fast_env):
    env = make_fast_env()
    env.reset(seed=0)
    fossilize = act(env, "fossilize", "block0")
    assert not env.action_masks()[fossilize]
    _, reward, _, _, info = env.step(fossilize)
    assert info["invalid_action"] and info["action"] == "FOSSILIZE(block0)"
    assert info["reward_terms"].invalid == -env.config.invalid_action_penalty
    assert info["stage_changes"] == ()
    assert reward == pytest.approx(info["reward_terms"].total)


def test_strict_mode_raises_and_says_why(make_fast_env):
    env = make_fast_env(strict=True, min_prune_age=3)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="needs a HOLDING seed; block0 is DORMANT"):
        env.step(act(env, "fossilize", "block0"))
    env.step(act(env, "germinate", "block0", "conv_light"))
    with pytest.raises(InvalidActionError, match="at least 3 steps old; block0's is 1"):
        env.step(act(env, "prune", "block0"))


def test_prune_needs_minimum_age(make_fast_env):
    env = make_fast_env(min_prune_age=3, training_ticks=5)
    env.reset(seed=0)
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    prune = act(env, "prune", "block1")
    ages = []
    for _ in range(3):
        ages.append(bool(env.action_masks()[prune]))
        env.step(0)
    assert ages == [False, False, True]


def test_unknown_keyword_and_bad_values_raise_clearly():
    with pytest.raises(UnexpectedKeywordError, match="did you mean 'budget'") as info:
        envs.GrowthEnv("mnist1d", budgett=3)
    assert "batches_per_step" in str(info.value)
    with pytest.raises(UnknownChoiceError, match="did you mean 'mnist1d'"):
        envs.GrowthEnv("mnist1e")
    with pytest.raises(UnknownChoiceError, match="did you mean 'conv_light'"):
        envs.GrowthEnv("mnist1d", blueprints=["conv_lite"])
    with pytest.raises(UnknownChoiceError, match="did you mean 'block1'"):
        envs.GrowthEnv("mnist1d", slots=["blok1"])
    with pytest.raises(UnknownChoiceError, match="did you mean 'terminal'"):
        envs.GrowthEnv("mnist1d", reward="termnal")
    with pytest.raises(envs.ConfigError, match="budget must be an int >= 1, got 0"):
        envs.GrowthEnv("mnist1d", budget=0)
    with pytest.raises(envs.ConfigError, match="host_lr"):
        envs.GrowthEnv("mnist1d", host_lr=-1.0)
    with pytest.raises(UnknownChoiceError, match="did you mean 'adam'"):
        envs.GrowthEnv("mnist1d", optimizer="adm")


def test_subset_of_slots_and_blueprints_shapes_the_spaces(make_fast_env):
    env = make_fast_env(slots=["block1"], blueprints=["noop", "conv_light"])
    assert env.action_space.n == 1 + 2 + 2
    assert env.codec.slots == ("block1",)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (12 + 8 + 2 + 5,)


def test_step_before_reset_and_after_end_raise(make_fast_env):
    env = make_fast_env(budget=1)
    with pytest.raises(KasminaError, match="reset") as info:
        env.step(0)
    assert not isinstance(info.value, UserError)  # calling out of order is a bug in the caller
    env.reset(seed=0)
    assert env.step(0)[2]
    with pytest.raises(KasminaError, match="reset"):
        env.step(0)
    mask = env.action_masks()  # a finished episode still reports a usable mask
    assert mask[0] and mask.shape == (env.action_space.n,)


@pytest.mark.parametrize(
    "action",
    [2.7, 2.0, "3", None, np.array([0, 1]), np.array([[2]]), np.array(2.0), [2], True, False],
    ids=repr,
)
def test_step_refuses_what_is_not_one_action_index(action):
    env = make()
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="is not an action index") as info:
        env.step(action)
    assert repr(action) in str(info.value) and "0..12" in str(info.value)
    assert env.unwrapped._episode.t == 0  # nothing was played
    with pytest.raises(InvalidActionError, match="is not an action index"):
        env.unwrapped.decode_action(action)


@pytest.mark.parametrize(
    "action",
    [2, np.int64(2), np.int32(2), np.uint8(2), np.array(2), np.array([2]), torch.tensor(2)],
    ids=repr,
)
def test_integer_scalars_and_one_element_arrays_are_actions(action):
    env = make()
    env.reset(seed=0)
    assert env.step(action)[-1]["action"] == "GERMINATE(block0, depthwise)"


def test_out_of_range_actions_of_any_integer_type_say_the_range():
    env = make()
    env.reset(seed=0)
    for action in (13, -1, np.int64(13), np.array([-1])):
        with pytest.raises(InvalidActionError, match=r"is out of range: valid actions are 0\.\.12"):
            env.step(action)


def test_recorded_actions_are_plain_ints():
    env = envs.RecordEpisode(make())
    env.reset(seed=0)
    env.step(np.array([2]))
    env.step(np.int64(0))
    assert env.record.actions == (2, 0) and all(type(a) is int for a in env.record.actions)
