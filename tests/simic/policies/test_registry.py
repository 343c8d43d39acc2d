"""The policy registry: decorator registration, listing, did-you-mean, duplicates refused."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from kasmina import UnknownChoiceError
from simic.cli import commands as cli
from simic.policies import (
    FAMILY_POLICY_NAMES,
    POLICIES,
    POLICY_NAMES,
    WAIT_INDEX,
    HeuristicPolicy,
    MaskedPolicy,
    NoGrowPolicy,
    PolicyRegistry,
    list_policies,
    make_policy,
)
from simic.policies.factory import make_policy as factory_make_policy

ENV_ID = "simic/Grow-MNIST1D-v0"


class _Waiter(MaskedPolicy):
    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        return WAIT_INDEX


def test_the_built_in_names_come_from_the_registry_in_registration_order():
    assert POLICY_NAMES == ("heuristic", "random", "nogrow", "growall")
    assert FAMILY_POLICY_NAMES == ("schedule-best", "heuristic-tuned")
    assert list_policies() == (*POLICY_NAMES, *FAMILY_POLICY_NAMES) == POLICIES.names()
    assert POLICIES.get("heuristic") is HeuristicPolicy and HeuristicPolicy.name == "heuristic"
    assert make_policy is factory_make_policy


def test_listing_filters_by_glob():
    assert list_policies("*grow*") == ("nogrow", "growall")
    assert list_policies("h*") == ("heuristic", "heuristic-tuned")
    assert list_policies("ppo*") == ()


def test_the_decorator_registers_names_and_builds_through_the_registry():
    registry = PolicyRegistry()
    waiter = registry.register("waiter")(_Waiter)
    assert waiter is _Waiter and _Waiter.name == "waiter"
    assert registry.names() == ("waiter",) and "waiter" in registry
    policy = registry.get("waiter")(gym.make(ENV_ID, budget=2))
    assert isinstance(policy, _Waiter) and policy.name == "waiter"
    assert "waiter" not in POLICIES  # a private registry leaves the built-in one alone


def test_a_name_is_registered_once():
    registry = PolicyRegistry()
    registry.register("same")(_Waiter)
    with pytest.raises(ValueError, match=r"already registered by .*_Waiter"):
        registry.register("same")(NoGrowPolicy)
    with pytest.raises(ValueError, match=r"already registered by .*NoGrowPolicy"):
        POLICIES.register("nogrow")(_Waiter)
    assert POLICIES.get("nogrow") is NoGrowPolicy


@pytest.mark.parametrize("name", ["", "agent.zip", "runs/ppo", "a\\b"])
def test_a_name_that_looks_like_a_path_is_refused(name):
    with pytest.raises(ValueError, match="path"):
        PolicyRegistry().register(name)


def test_an_unknown_name_suggests_the_closest_registered_one():
    with pytest.raises(UnknownChoiceError, match="did you mean 'growall'") as info:
        POLICIES.get("groall")
    assert set(info.value.choices) == set(list_policies())
    registry = PolicyRegistry()
    registry.register("waiter")(_Waiter)
    with pytest.raises(UnknownChoiceError, match="did you mean 'waiter'"):
        registry.get("waiterr")


def test_the_cli_policy_help_lists_the_registry(capsys):
    try:
        status = cli.main(["evaluate", "--help"])
    except SystemExit as stop:  # argparse's --help exits; a wrapping main may return instead
        status = stop.code
    assert status == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert ", ".join(list_policies()) in help_text
