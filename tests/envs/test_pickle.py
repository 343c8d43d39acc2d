"""Pickling an environment, bare or wrapped, at any point: the copy continues identically."""

import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from tests.envs.helpers import act, fast_env, make, same

ROOT = Path(__file__).resolve().parents[2]

BEFORE = [("germinate", "block1", "conv_light"), ("wait",)]
AFTER = [("germinate", "block0", "depthwise"), ("wait",), ("fossilize", "block1"), ("wait",)]

BUILDERS = {
    "GrowthEnv": lambda: fast_env(budget=6),
    "unwrapped": lambda: make(budget=6).unwrapped,
    "gymnasium.make": lambda: make(budget=6),
    "DictMaskObservation": lambda: envs.DictMaskObservation(make(budget=6)),
    "RecordEpisode": lambda: envs.RecordEpisode(make(budget=6)),
}


def _wrapper_types(env):
    types = [type(env)]
    while isinstance(env, gym.Wrapper):
        env = env.env
        types.append(type(env))
    return types


def _play(env, steps):
    return [env.step(act(env, *a)) for a in steps]


@pytest.mark.parametrize("kind", BUILDERS)
def test_pickled_env_continues_exactly_like_the_original(kind):
    env = BUILDERS[kind]()
    env.reset(seed=3)
    _play(env, BEFORE)
    copy = pickle.loads(pickle.dumps(env))
    assert _wrapper_types(copy) == _wrapper_types(env)
    ours, theirs = _play(env, AFTER), _play(copy, AFTER)
    assert same(ours, theirs)
    infos = [step[-1] for step in ours]
    assert not any(i["invalid_action"] for i in infos)
    assert any("FOSSILIZED" in c for c in infos[2]["stage_changes"])  # the seed kept training


@pytest.mark.parametrize("kind", ["GrowthEnv", "gymnasium.make", "DictMaskObservation"])
def test_pickled_before_reset_and_right_after_reset(kind):
    env = BUILDERS[kind]()
    fresh = pickle.loads(pickle.dumps(env))
    assert same(env.reset(seed=4), fresh.reset(seed=4))
    copy = pickle.loads(pickle.dumps(env))
    assert same(_play(env, BEFORE), _play(copy, BEFORE))


def test_torch_and_numpy_state_survive_a_round_trip(make_fast_env):
    env = make_fast_env(budget=6)
    env.reset(seed=5)
    _play(env, BEFORE)
    copy = pickle.loads(pickle.dumps(env))
    model, twin = env.model, copy.model
    for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(model._generator.get_state(), twin._generator.get_state())
    seed_opt = model.slot("block1").optimizer
    twin_opt = twin.slot("block1").optimizer
    assert seed_opt is not None and seed_opt.state  # Adam moments exist and must travel
    for opt, twin_o, owner in (
        (model.host_optimizer, twin.host_optimizer, twin.host),
        (seed_opt, twin_opt, twin.slot("block1").seed),
    ):
        assert same(_optimizer_state(opt), _optimizer_state(twin_o))
        # The copy's optimizers step the copy's parameters, not stale duplicates.
        assert {id(p) for g in twin_o.param_groups for p in g["params"]} == {
            id(p) for p in owner.parameters()
        }
    assert env.np_random.bit_generator.state == copy.np_random.bit_generator.state
    assert (
        env._episode.batches.rng.bit_generator.state
        == copy._episode.batches.rng.bit_generator.state
    )
    assert np.array_equal(env._episode.batches._order, copy._episode.batches._order)


def test_the_pickle_leaves_the_data_set_out_and_the_copy_reloads_it(make_fast_env):
    env = make_fast_env()
    env.reset(seed=0)
    blob = pickle.dumps(env)
    assert len(blob) < 200_000  # MNIST-1D alone is 800 kB of float32
    copy = pickle.loads(blob)
    assert torch.equal(copy.data.train.x, env.data.train.x)
    assert copy.data.test.y.shape == env.data.test.y.shape


def _optimizer_state(opt):
    # Parameters are keyed by position in state_dict(), so two optimizers compare by value.
    state = opt.state_dict()
    return [
        {k: v.numpy() if torch.is_tensor(v) else v for k, v in s.items()}
        for _, s in sorted(state["state"].items())
    ], state["param_groups"]


@pytest.mark.parametrize("task", ["mnist1d", "mnist1d-transformer", "digits"])
def test_every_task_pickles(make_fast_env, task):
    env = make_fast_env(task)
    env.reset(seed=1)
    env.step(0)
    copy = pickle.loads(pickle.dumps(env))
    assert same(env.step(1), copy.step(1))
    # host factories included (functools.partial compares by identity, its repr by value)
    assert repr(pickle.loads(pickle.dumps(envs.TASKS))) == repr(envs.TASKS)


@pytest.mark.slow
def test_unpickled_in_a_fresh_process_it_continues_identically(tmp_path):
    # The Ray / multiprocessing case: the data set is reloaded there, torch state travels.
    env = make(budget=6)
    env.reset(seed=3)
    _play(env, BEFORE)
    (tmp_path / "env.pkl").write_bytes(pickle.dumps(env))
    actions = [act(env, *a) for a in AFTER]
    script = (
        "import pickle, sys\n"
        "env = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        f"out = [env.step(a) for a in {actions!r}]\n"
        "open(sys.argv[2], 'wb').write(pickle.dumps(out))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "env.pkl"), str(tmp_path / "out.pkl")],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    theirs = pickle.loads((tmp_path / "out.pkl").read_bytes())
    assert same([env.step(a) for a in actions], theirs)
