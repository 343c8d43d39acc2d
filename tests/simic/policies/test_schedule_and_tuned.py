"""Open-loop schedules and the per-instance baselines that know the instance in advance."""

import gymnasium as gym
import pytest

import envs
from envs.actions import ActionKind
from simic.policies import (
    BestSchedulePolicy,
    PolicyError,
    Schedule,
    SchedulePolicy,
    TunedTable,
    make_policy,
    run_episode,
)
from simic.policies.tuned import TABLE_DIR

FAMILY = "simic/Grow-Family-v0"


def test_a_schedule_reads_back_what_it_writes():
    text = "block0:conv_light@0+block1:attention@4"
    assert str(Schedule.parse(text)) == text
    assert Schedule.parse("none") == Schedule() and str(Schedule()) == "none"
    with pytest.raises(PolicyError, match="SLOT:BLUEPRINT@STEP"):
        Schedule.parse("block0-conv_light")
    with pytest.raises(PolicyError, match="at most once"):
        Schedule.parse("block0:conv_light@0+block0:attention@2")


def test_a_schedule_germinates_when_due_and_fossilizes_when_holding():
    env = gym.make("simic/Grow-MNIST1D-v0", budget=14, batches_per_step=1)
    policy = SchedulePolicy(env, Schedule.parse("block1:attention@2"))
    result = run_episode(env, policy, seed=3)
    kinds = [(step, action.kind, action.slot) for step, action in result.events]
    assert kinds[0] == (2, ActionKind.GERMINATE, "block1")
    assert (ActionKind.FOSSILIZE, "block1") in [(k, s) for _, k, s in kinds]
    assert all(k is not ActionKind.PRUNE for _, k, _ in kinds) and len(kinds) == 2


def test_a_schedule_refuses_slots_the_env_lacks():
    env = gym.make("simic/Grow-MNIST1D-v0", budget=3)
    with pytest.raises(PolicyError, match="lacks"):
        SchedulePolicy(env, Schedule.parse("block7:attention@0"))


def test_the_per_instance_baseline_plays_its_instances_entry():
    env = gym.make(FAMILY, budget=8, batches_per_step=1)
    table = TunedTable("schedule-best", {"mnist1d-w4x8-rent0.15": "block0:depthwise@1"})
    policy = BestSchedulePolicy(env, table)
    result = run_episode(env, policy, seed=0, options={"instance": "mnist1d-w4x8-rent0.15"})
    assert result.events[0][0] == 1 and result.events[0][1].blueprint == "depthwise"
    with pytest.raises(PolicyError, match="no tuned setting for instance 'mnist1d-w8x16-rent0'"):
        run_episode(env, policy, seed=0, options={"instance": "mnist1d-w8x16-rent0"})


def test_the_shipped_tables_cover_both_families_and_need_a_family():
    for name in ("schedule-best", "heuristic-tuned"):
        table = TunedTable.load(TABLE_DIR / f"{name}.json")
        expected = {i.name for f in envs.FAMILIES.values() for i in f.instances}
        assert set(table.entries) == expected
    plain = gym.make("simic/Grow-MNIST1D-v0", budget=3)
    with pytest.raises(PolicyError, match="needs a task family env"):
        make_policy("heuristic-tuned", plain)
