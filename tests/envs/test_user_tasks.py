"""User tasks and families: ``envs.register_task``, ``envs.register_family``, ``TaskData``."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from functools import partial

import gymnasium as gym
import pytest
import torch
from torch.utils.data import TensorDataset

import envs
from envs import TaskData, TaskRegistrationError, TaskSpec
from kasmina import CNNHost
from kasmina.errors import InvalidValueError, UnknownChoiceError

ID, FAMILY_ID = "test/Grow-UserWaves-v0", "test/Grow-UserMixed-v0"


def _xy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 16, generator=g) + y[:, None, None].float()
    return x, y


def load_user_data(data_dir: str | None = None) -> TaskData:
    return TaskData.from_tensors(train=_xy(200, 0), val=_xy(60, 1), test=_xy(60, 2))


def user_spec(**changes: object) -> TaskSpec:
    fields = {
        "env_id": ID,
        "name": "user-waves",
        "description": "a CNN host on shifted noise",
        "host_factory": partial(CNNHost, 1, 3, widths=(4, 8), spatial_dims=1),
        "blueprints": ("conv_light", "attention"),
        "loader": load_user_data,
    }
    return TaskSpec(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def registered() -> Iterator[TaskSpec]:
    """The user task, registered for one test and removed after it (with any family)."""
    spec = envs.register_task(user_spec())
    yield spec
    for name in [n for n, t in envs.TASKS.items() if t.module == __name__]:
        del envs.TASKS[name]
    envs.FAMILIES.pop(FAMILY_ID, None)
    for env_id in (ID, FAMILY_ID):
        gym.registry.pop(env_id, None)


def test_register_task_makes_an_id_that_plays(registered: TaskSpec) -> None:
    assert registered.module == __name__ and str(registered.topology) == "cnn"
    env = gym.make(ID, budget=3, batches_per_step=1)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.unwrapped.codec.blueprints == ("conv_light", "attention")
    env.step(env.unwrapped.codec.encode(envs.GrowthAction(envs.ActionKind.WAIT)))
    twin = pickle.loads(pickle.dumps(env.unwrapped))
    assert twin.task.name == registered.name and twin.data.train.x.shape == (200, 1, 16)


def test_registering_again_from_the_same_module_replaces_it(registered: TaskSpec) -> None:
    again = envs.register_task(user_spec(description="changed"))
    assert envs.TASKS["user-waves"] is again and again.description == "changed"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"env_id": "Grow-Waves"}, "not a versioned Gymnasium id"),
        ({"name": "mnist1d"}, "is taken by task 'mnist1d'"),
        ({"env_id": "simic/Grow-MNIST1D-v0"}, "is taken by task 'mnist1d'"),
        ({"host_factory": lambda: CNNHost(1, 3)}, "must be a module-level function"),
        ({"host_factory": partial(torch.nn.Linear, 2, 2)}, "not a kasmina.HostNetwork"),
        ({"blueprints": ("conv_lite",)}, "did you mean 'conv_light'"),
    ],
)
def test_bad_task_specs_are_refused_in_one_line(changes: dict, message: str) -> None:
    with pytest.raises((TaskRegistrationError, UnknownChoiceError)) as info:
        envs.register_task(user_spec(**changes))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "user-waves" not in envs.TASKS and ID not in gym.registry


def test_a_family_mixes_a_builtin_task_and_a_user_task(registered: TaskSpec) -> None:
    family = envs.TaskFamily(
        FAMILY_ID,
        "MNIST-1D and a user task",
        (envs.Instance("mnist1d", (8, 16), 0.05), envs.Instance("user-waves", (), 0.1)),
    )
    with pytest.raises(TaskRegistrationError, match="different slots or blueprints"):
        envs.register_family(family)
    family = dataclasses.replace(family, fixed=(("blueprints", ("conv_light", "attention")),))
    envs.register_family(family)
    env = gym.make(FAMILY_ID, budget=2, batches_per_step=1)
    seen = set()
    for seed in range(6):
        _, info = env.reset(seed=seed)
        seen.add(info["instance"])
        env.step(0)
    assert seen == {"mnist1d-w8x16-rent0.05", "user-waves-rent0.1"}
    assert envs.Instance.parse("user-waves-rent0.1") == envs.Instance("user-waves", (), 0.1)


def test_a_family_needs_known_tasks_and_a_free_id(registered: TaskSpec) -> None:
    with pytest.raises(UnknownChoiceError, match="did you mean 'user-waves'"):
        envs.Instance("user-wave", (), 0.1)
    family = envs.TaskFamily("simic/Grow-Family-v0", "x", (envs.Instance("user-waves", (), 0),))
    with pytest.raises(TaskRegistrationError, match="built-in"):
        envs.register_family(family)


def test_task_data_from_tensors_and_datasets() -> None:
    data = load_user_data()
    assert data.num_classes == 3 and data.val.x.shape == (60, 1, 16)
    sets = {k: TensorDataset(*_xy(10, i)) for i, k in enumerate(("train", "val", "test"))}
    from_sets = TaskData.from_datasets(**sets, num_classes=5)
    assert from_sets.num_classes == 5
    assert torch.equal(from_sets.train.x, _xy(10, 0)[0])


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ((torch.randn(4, 3), torch.zeros(3, dtype=torch.long)), "4 inputs and 3 labels"),
        ((torch.randn(4, 3), torch.zeros(4)), "labels must be integer class indices"),
        ((torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long)), "float"),
        ((torch.randn(4, 3),), "(inputs, labels) pair"),
        ((torch.randn(4, 5), torch.zeros(4, dtype=torch.long)), "differ in input shape"),
    ],
)
def test_task_data_refuses_bad_tensors_in_one_line(train: tuple, message: str) -> None:
    ok = (torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidValueError) as info:
        TaskData.from_tensors(train=train, val=ok, test=ok)
    assert message in str(info.value)


def test_num_classes_below_the_labels_is_refused() -> None:
    xy = (torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(InvalidValueError, match=r">= the largest label \+ 1 \(4\)"):
        TaskData.from_tensors(train=xy, val=xy, test=xy, num_classes=2)


def test_widths_need_a_factory_that_takes_them(registered: TaskSpec) -> None:
    assert registered.takes_widths
    assert not envs.get_task("mnist1d-transformer").takes_widths
    with pytest.raises(envs.InstanceError, match="takes no widths"):
        envs.Instance("mnist1d-transformer", (8,), 0.0)
    assert envs.Instance("user-waves", [4, 8], 0.0).widths == (4, 8)  # its factory takes them
