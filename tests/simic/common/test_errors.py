"""One line between user errors and bugs: which errors of every layer are the user's to fix."""

import pytest

import envs
from envs.actions import InvalidActionError
from envs.recording import RecordError
from kasmina import (
    GrowthOOMError,
    IllegalTransitionError,
    InvalidValueError,
    KasminaError,
    UnexpectedKeywordError,
    UnknownChoiceError,
    UserError,
)
from simic.common.envutil import SimicError as OldHomeSimicError
from simic.common.errors import SimicError
from simic.evaluation.export import ExportError, GrownModelNotFoundError
from simic.policies import PolicyError

USER_ERRORS = (
    UnknownChoiceError,
    UnexpectedKeywordError,
    InvalidValueError,
    envs.ConfigError,
    envs.DataUnavailableError,
    envs.DataCorruptError,
    RecordError,
    SimicError,
    PolicyError,
    ExportError,
    GrownModelNotFoundError,
)
BUGS = (IllegalTransitionError, GrowthOOMError, InvalidActionError)


@pytest.mark.parametrize("error", USER_ERRORS)
def test_errors_of_input_are_user_errors(error):
    assert issubclass(error, UserError) and issubclass(error, KasminaError)


@pytest.mark.parametrize("error", BUGS)
def test_errors_of_code_or_machine_are_not(error):
    assert issubclass(error, KasminaError) and not issubclass(error, UserError)


def test_simic_error_is_still_importable_from_its_old_home():
    assert OldHomeSimicError is SimicError


def test_growth_env_config_rejects_through_it():
    with pytest.raises(UnexpectedKeywordError, match=r"GrowthEnv .*did you mean 'budget'"):
        envs.GrowthEnvConfig.from_kwargs("digits", {"budgte": 3})
