"""Shared validation: "must be ..." value errors and the one check for unknown keywords."""

import pytest

from kasmina import CNNHost, InvalidValueError, OptimizerSpec, UnexpectedKeywordError, UserError
from kasmina.validation import reject_unknown, require_int


def test_bad_values_are_user_errors_and_value_errors():
    for bad in (lambda: CNNHost(1, 10, ()), lambda: OptimizerSpec("adam", -1.0)):
        with pytest.raises(InvalidValueError) as info:
            bad()
        assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)
    with pytest.raises(InvalidValueError, match="n must be an int >= 1, got 0"):
        require_int("n", 0, 1)


def test_reject_unknown_names_the_owner_and_suggests():
    reject_unknown("thing", {"budget": 1}, ["budget", "seed"])  # nothing unknown: no error
    with pytest.raises(UnexpectedKeywordError) as info:
        reject_unknown("thing", {"budgte": 1, "zzz": 2}, ["budget", "seed"])
    message = str(info.value)
    assert message.startswith("thing got unexpected keyword argument(s) 'budgte' (did you mean")
    assert "'zzz'" in message and "It accepts: 'budget', 'seed'." in message
    assert info.value.keywords == ("budgte", "zzz") and isinstance(info.value, TypeError)


def test_reject_unknown_hints_are_suggested_but_not_accepted():
    with pytest.raises(UnexpectedKeywordError, match=r"did you mean 'ppo\.n_steps'"):
        reject_unknown("train config", ["ppo.n_step"], ["env"], hints=["ppo.n_steps"])
    with pytest.raises(UnexpectedKeywordError):
        reject_unknown("train config", ["ppo.n_steps"], ["env"], hints=["ppo.n_steps"])
