"""Task families: seeded instance draws, explicit instances, observed context, same spaces."""

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import FAMILIES, Instance, InstanceError
from kasmina import UnknownChoiceError, UserError, seeded_init
from tests.envs.helpers import FAST, act, make, same

TRAIN = "simic/Grow-Family-v0"
HELD_OUT = "simic/Grow-Family-HeldOut-v0"
ALL_INSTANCES = [i for f in FAMILIES.values() for i in f.instances]


def _host_params(instance: Instance) -> int:
    with seeded_init(0):
        host = envs.get_task(instance.task).make_host(instance.widths)
    return sum(p.numel() for p in host.parameters())


def test_the_registered_families_hold_the_issue_instances():
    train = FAMILIES[TRAIN]
    assert len(train.instances) == 9
    assert {i.widths for i in train.instances} == {(4, 8), (8, 16), (16, 32)}
    assert {i.param_rent for i in train.instances} == {0.0, 0.05, 0.15}
    assert {i.task for i in train.instances} == {"mnist1d"}
    assert FAMILIES[HELD_OUT].names == (
        "mnist1d-w12x24-rent0.05",
        "mnist1d-w8x16-rent0.1",
        "digits-w8x16-rent0.05",
    )
    assert not set(FAMILIES[HELD_OUT].names) & set(train.names)  # never trained on


def test_instance_names_round_trip_and_parse_every_form():
    for instance in ALL_INSTANCES:
        assert Instance.parse(instance.name) == instance
        assert Instance.parse(instance) is instance
    mapping = {"task": "digits", "widths": [8, 16], "param_rent": 0.05}
    assert Instance.parse(mapping) == Instance("digits", (8, 16), 0.05)
    assert Instance("mnist1d", [4, 8], 0).name == "mnist1d-w4x8-rent0"
    odd = Instance("mnist1d", (8, 16), 0.123456789)
    assert Instance.parse(odd.name) == odd


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mnist1-w8x16-rent0.05", "did you mean 'mnist1d'"),
        ("mnist1d-w8x16-rnt0.05", "did you mean 'mnist1d-w8x16-rent0.05'"),
        ({"task": "digits", "widths": [8, 16]}, "lacks param_rent"),
        ({"task": "digits", "widths": [8, 16], "param_rent": 0.1, "rent": 1}, "'rent'"),
        ({"task": "digits", "widths": [8, 0], "param_rent": 0.1}, "positive ints"),
        (42, "an instance must be"),
    ],
)
def test_bad_instances_raise_one_line_user_errors(value, message):
    with pytest.raises(UserError) as info:
        Instance.parse(value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_negative_price_and_unknown_task_are_refused():
    with pytest.raises(InstanceError, match="param_rent must be a finite number >= 0"):
        Instance("mnist1d", (8, 16), -0.1)
    with pytest.raises(UnknownChoiceError, match="did you mean 'digits'"):
        Instance("digit", (8, 16), 0.1)


def test_reset_draws_a_seeded_instance_and_covers_the_family():
    env, twin = make(TRAIN), make(TRAIN)
    drawn = [env.reset(seed=s)[1]["instance"] for s in range(60)]
    assert drawn == [twin.reset(seed=s)[1]["instance"] for s in range(60)]
    assert set(drawn) == set(FAMILIES[TRAIN].names)
    assert env.unwrapped.instance.name == drawn[-1]
    assert env.unwrapped.family is FAMILIES[TRAIN]
    assert isinstance(env.unwrapped, envs.GrowthEnv)


def test_same_seed_same_instance_and_episode():
    env = make(TRAIN)
    steps = [("germinate", "block1", "conv_light"), ("wait",), ("wait",)]
    runs = []
    for _ in range(2):
        first = env.reset(seed=11)
        runs.append([first, *(env.step(act(env, *a)) for a in steps)])
    assert same(runs[0], runs[1])
    assert all(step[-1]["instance"] == runs[0][0][1]["instance"] for step in runs[0][1:])


@pytest.mark.parametrize(
    "form",
    [
        Instance("digits", (8, 16), 0.05),
        "digits-w8x16-rent0.05",
        {"task": "digits", "widths": [8, 16], "param_rent": 0.05},
    ],
    ids=["object", "name", "mapping"],
)
def test_options_pick_an_instance_explicitly(form):
    env = make(TRAIN)
    _, info = env.reset(seed=0, options={"instance": form})
    assert info["instance"] == "digits-w8x16-rent0.05"
    base = env.unwrapped
    assert base.task.name == "digits" and base.config.param_rent == 0.05
    assert base.data.train.x.dim() == 4  # 2-D images: the Digits host
    _, _, _, _, info = env.step(0)
    assert info["instance"] == "digits-w8x16-rent0.05"


def test_a_bad_instance_name_in_options_says_what_was_meant():
    env = make(TRAIN)
    with pytest.raises(UserError, match=r"did you mean 'mnist1d-w16x32-rent0\.15'") as info:
        env.reset(seed=0, options={"instance": "mnist1d-w16x32-rent0.15x"})
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="'instanse'"):
        env.reset(seed=0, options={"instanse": "mnist1d-w16x32-rent0.15"})


def test_an_instance_episode_equals_the_plain_env_configured_alike():
    instance = Instance("mnist1d", (4, 8), 0.15)
    family = make(TRAIN)
    plain = make(**instance.env_kwargs())
    steps = [("germinate", "block0", "attention"), ("wait",), ("wait",)]
    family.reset(seed=5, options={"instance": instance})
    plain.reset(seed=5)
    ours = [family.step(act(family, *a))[1] for a in steps]
    assert ours == [plain.step(act(plain, *a))[1] for a in steps]


def test_family_kwargs_that_the_instance_sets_are_refused():
    for key, value in (("param_rent", 0.1), ("host_widths", [4, 8]), ("task", "digits")):
        with pytest.raises(envs.ConfigError, match=f"takes {key} from its instances"):
            gym.make(TRAIN, **{key: value})
    env = make(TRAIN, budget=4)  # other kwargs pass through
    assert env.unwrapped.config.budget == 4


@pytest.mark.parametrize("instance", ALL_INSTANCES, ids=lambda i: i.name)
def test_context_features_and_spaces_per_instance(instance):
    env = make(TRAIN)
    obs, _ = env.reset(seed=0, options={"instance": instance})
    base = env.unwrapped
    context = base.layout.read(obs).context
    assert context.price == pytest.approx(instance.param_rent / 0.15)
    assert context.host_size == pytest.approx(math.log10(_host_params(instance)) / 5, rel=1e-6)
    assert base.model.param_counts().host == _host_params(instance)
    assert env.observation_space == make(HELD_OUT).observation_space
    assert env.action_space == gym.make("simic/Grow-MNIST1D-v0").action_space
    assert env.observation_space.contains(obs)
    plain = len(gym.make("simic/Grow-MNIST1D-v0").unwrapped.layout)
    assert base.layout.features[plain].name == "context.price"
    assert len(base.layout) == plain + 2


def test_host_size_grows_with_the_widths():
    sizes = [math.log10(_host_params(Instance("mnist1d", w, 0))) for w in ((4, 8), (16, 32))]
    assert 0 < sizes[0] / 5 < sizes[1] / 5 < 1


@pytest.mark.parametrize("env_id", envs.FAMILY_IDS)
def test_checkers_pass_on_family_ids(env_id):
    env = gym.make(env_id, **FAST)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id, **FAST).unwrapped, warn=True)


def test_action_masks_reach_through_the_wrappers():
    env = envs.DictMaskObservation(envs.RecordEpisode(make(TRAIN)))
    obs, _ = env.reset(seed=2, options={"instance": "mnist1d-w8x16-rent0"})
    assert np.array_equal(obs["action_mask"], env.unwrapped.action_masks())
    obs, *_ = env.step(act(env, "germinate", "block1", "conv_light"))
    assert not obs["action_mask"][act(env, "germinate", "block1", "attention")]


def test_pickled_family_env_continues_identically():
    env = envs.RecordEpisode(make(HELD_OUT))
    env.reset(seed=3, options={"instance": "digits-w8x16-rent0.05"})
    env.step(act(env, "germinate", "block1", "conv_light"))
    copy = pickle.loads(pickle.dumps(env))
    assert copy.unwrapped.instance == env.unwrapped.instance
    assert same([env.step(0) for _ in range(2)], [copy.step(0) for _ in range(2)])
    assert same(env.reset(seed=9), copy.reset(seed=9))  # the draw's generator travelled


def test_a_recorded_family_episode_replays_on_the_plain_env():
    env = envs.RecordEpisode(make(TRAIN))
    env.reset(seed=4)
    env.step(act(env, "germinate", "block1", "conv_light"))
    while not env.step(0)[2]:
        pass
    record = env.record
    assert record.kwargs["host_widths"] == list(env.unwrapped.instance.widths)
    assert record.validate().ok


def test_an_instance_that_grows_other_slots_is_refused_in_one_line():
    env = envs.FamilyGrowthEnv(budget=4, batches_per_step=1)
    with pytest.raises(InstanceError, match=r"grows slots \['block0', 'block1', 'block2'\]"):
        env.reset(seed=0, options={"instance": "mnist1d-w8x16x32-rent0.05"})
    mixed = envs.TaskFamily("x/Mixed-v0", "mixed", ("mnist1d-w8x16-rent0", "mnist1d-w4x8x16-rent0"))
    with pytest.raises(InstanceError, match="every instance of a family needs the same slots"):
        envs.FamilyGrowthEnv(mixed)


def test_a_three_block_family_replays_on_the_same_action_space():
    family = envs.TaskFamily("x/Three-v0", "three blocks", ("mnist1d-w4x8x16-rent0.05",))
    env = envs.RecordEpisode(envs.FamilyGrowthEnv(family, budget=3, batches_per_step=1))
    env.reset(seed=0)
    assert env.unwrapped.slots == ("block0", "block1", "block2")
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(0)
        done = terminated or truncated
    assert env.record.validate().ok
