"""envs.stepping: the public train-and-measure functions give exactly what the env reports,
and ``GrowthEnv.stepping`` is the seam to observe that work."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from envs import GrowthEnv
from envs.data import BatchStream
from envs.observation import squash
from envs.stepping import (
    DEFAULT_STEPPING,
    SeedMeasurement,
    Stepping,
    TrainStats,
    gradient_ratios,
    measure_seeds,
    recover_from_oom,
    train_batches,
)
from kasmina import GrowthOOMError
from tests.envs.helpers import act

SCRIPT = [("germinate", "block0", "conv_light"), ("germinate", "block1", "depthwise")]


class Twin(Stepping):
    """Runs the public functions on a copy of what the env hands over, before the env does."""

    def __init__(self) -> None:
        self.train_stats: list[TrainStats] = []
        self.ratios: list[dict[str, float]] = []
        self.measurements: list[SeedMeasurement] = []

    def train(self, model, split, stream, batches):
        model_copy, stream_copy = copy.deepcopy(model), copy.deepcopy(stream)
        self.train_stats.append(train_batches(model_copy, split, stream_copy, batches))
        self.ratios.append(gradient_ratios(model_copy))
        return super().train(model, split, stream, batches)

    def measure(self, model, split, chunk_size):
        self.measurements.append(measure_seeds(model, split, chunk_size))
        return super().measure(model, split, chunk_size)


@pytest.mark.parametrize("seed", [0, 5])
def test_public_functions_give_what_the_env_reports(make_fast_env, seed):
    env = make_fast_env(budget=6, batches_per_step=3)
    env.stepping = twin = Twin()
    env.reset(seed=seed)
    for t in range(6):
        obs, _, _, _, info = env.step(act(env, *SCRIPT[t]) if t < len(SCRIPT) else 0)
        stats, measured = twin.train_stats[-1], twin.measurements[-1]
        assert (info["train_loss"], info["train_accuracy"]) == (stats.loss, stats.accuracy)
        assert (info["val_loss"], info["val_accuracy"]) == (measured.loss, measured.accuracy)
        slots = env.layout.read(obs).slots
        for slot_id, value in measured.contributions.items():
            assert slots[slot_id].contribution == pytest.approx(np.clip(5 * value, -1, 1))
        for slot_id, ratio in twin.ratios[-1].items():
            assert slots[slot_id].grad_ratio == pytest.approx(squash(ratio))
    assert len(twin.measurements) == 6
    assert max(len(m.contributions) for m in twin.measurements) == 2  # both seeds measured


def test_the_default_lives_on_the_class_so_pickles_do_not_change(make_fast_env):
    env = make_fast_env()
    assert env.stepping is DEFAULT_STEPPING and "stepping" not in vars(env)
    env.stepping = Stepping()  # replacing it is per instance
    assert GrowthEnv.stepping is DEFAULT_STEPPING
    env.reset(seed=0)
    del env.stepping
    assert "stepping" not in pickle.loads(pickle.dumps(env)).__dict__


def _grown(env):
    env.reset(seed=0)
    env.step(act(env, "germinate", "block0", "conv_light"))
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    env.step(0)
    return env.model


def _stream(env, seed=1):
    rng = np.random.default_rng(seed)
    return BatchStream(len(env.data.train), env.config.batch_size, rng, env.device)


def test_out_of_memory_stops_training_and_keeps_the_finished_batches(make_fast_env, monkeypatch):
    env = make_fast_env(budget=10)
    model = _grown(env)
    real, calls = model.train_step, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise GrowthOOMError(3, "injected")
        return real(*args, **kwargs)

    twin = copy.deepcopy(model)
    monkeypatch.setattr(model, "train_step", flaky)
    stats = train_batches(model, env.data.train, _stream(env), 5)
    expected = train_batches(twin, env.data.train, _stream(env), 2)
    assert stats == TrainStats(expected.loss, expected.accuracy, diverged=False, oom=True)


def test_recover_from_oom_prunes_the_newest_live_seed_then_gives_up(make_fast_env):
    env = make_fast_env(budget=10)
    model = _grown(env)
    stats = TrainStats(1.0, 0.5, diverged=False, oom=True)
    assert recover_from_oom(model, stats, {"block0": 0, "block1": 1}) == (stats, "block1")
    assert recover_from_oom(model, stats, {}) == (stats, "block0")  # a tie: slot order
    assert not any(model.slot(s).stage.is_live for s in model.slots)
    gave_up = TrainStats(float("inf"), 0.0, diverged=True, oom=True)
    assert recover_from_oom(model, stats, {}) == (gave_up, None)


def test_a_non_finite_loss_stops_training_as_diverged(make_fast_env):
    env = make_fast_env(budget=10)
    model = _grown(env)
    with torch.no_grad():
        next(model.host.parameters()).fill_(float("nan"))
    stats = train_batches(model, env.data.train, _stream(env), 4)
    assert stats.diverged and not stats.oom and stats.loss == float("inf")
    assert model.steps_taken == 4  # the 3 training steps of _grown, then the diverged one
