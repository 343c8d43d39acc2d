"""One spec per env id: registration, listings and lookups all come from ``envs.TASKS``."""

import re
from pathlib import Path

import gymnasium as gym
import pytest

import envs
from envs.registration import ENTRY_POINT, FAMILY_ENTRY_POINT, register_envs
from envs.tasks import TaskSpec, _index
from kasmina import KasminaError, UnknownChoiceError

ROOT = Path(__file__).resolve().parents[2]


def test_every_spec_is_registered_once_under_its_id():
    simic_ids = [env_id for env_id in gym.registry if env_id.startswith("simic/")]
    assert sorted(simic_ids) == sorted([*(s.env_id for s in envs.TASKS.values()), *envs.FAMILIES])
    for spec in envs.TASKS.values():
        registered = gym.spec(spec.env_id)
        assert registered.entry_point == ENTRY_POINT
        assert registered.kwargs == {"task": spec.name}
        assert registered.max_episode_steps is None  # the budget ends an episode, not a limit
    for family in envs.FAMILIES.values():
        registered = gym.spec(family.env_id)
        assert registered.entry_point == FAMILY_ENTRY_POINT
        assert registered.kwargs == {"family": family.env_id}
        assert registered.max_episode_steps is None


def test_registering_again_changes_nothing():
    before = {env_id: gym.spec(env_id) for env_id in [*envs.ENV_IDS, *envs.FAMILY_IDS]}
    register_envs()
    assert all(gym.spec(env_id) is spec for env_id, spec in before.items())


def test_ids_and_embedded_ids_are_derived_from_the_specs():
    assert {s.env_id: s.name for s in envs.TASKS.values()} == envs.ENV_IDS
    assert envs.EMBEDDED_IDS == (
        "simic/Grow-MNIST1D-v0",
        "simic/Grow-MNIST1D-Transformer-v0",
        "simic/Grow-Digits-v0",
    )
    assert [s.name for s in envs.TASKS.values() if not s.embedded] == ["cifar10"]


def test_task_for_id_finds_each_spec_and_suggests_for_a_typo():
    for spec in envs.TASKS.values():
        assert envs.task_for_id(spec.env_id) is spec
        if spec.embedded:  # building an env reads its data; CIFAR-10 is not on this machine
            assert gym.make(spec.env_id, budget=1).unwrapped.task is spec
    with pytest.raises(UnknownChoiceError, match="did you mean 'simic/Grow-Digits-v0'"):
        envs.task_for_id("simic/Grow-Digit-v0")


def test_a_second_spec_under_one_id_or_name_is_refused():
    spec = envs.TASKS["digits"]
    twin = TaskSpec(
        env_id=spec.env_id,
        name="digits-again",
        description=spec.description,
        host_factory=spec.host_factory,
        blueprints=spec.blueprints,
        loader=spec.loader,
    )
    for specs in ((spec, twin), (spec, spec)):
        with pytest.raises(KasminaError, match="defined twice"):
            _index(specs)


def test_written_listings_name_every_spec_and_family_in_order():
    ids = [spec.env_id for spec in envs.TASKS.values()] + list(envs.FAMILY_IDS)
    readme = (ROOT / "README.md").read_text()
    table = re.findall(r"^\| `(simic/[^`]+)`", readme, re.M)
    assert table == ids
    docstring = re.findall(r"^    (simic/\S+)", envs.__doc__, re.M)
    assert docstring == ids
