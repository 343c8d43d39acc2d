"""The batched step's parts against the single env's: optimizer step, grouped seeds, measuring."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import envs
from envs.batched.grouped_host import GroupedCNN
from envs.batched.optim import step_all
from envs.batched.work import _measure_grouped, train_group
from envs.stepping import measure_seeds, train_batches
from kasmina import GrowthOOMError
from tests.envs.helpers import BATCHED_ATOL, BATCHED_RTOL, FAST, act


def _grown(n: int = 3) -> envs.BatchedGrowthEnv:
    """Envs whose seeds are in mixed stages: TRAINING, BLENDING/HOLDING, none; one attention."""
    env = envs.BatchedGrowthEnv(n, **{**FAST, "budget": 20, "training_ticks": 2})
    env.reset(seed=0)
    first = env.envs[0]
    light0 = act(first, "germinate", "block0", "conv_light")
    light1 = act(first, "germinate", "block1", "conv_light")
    attention = act(first, "germinate", "block1", "attention")
    env.step(np.array([light0, light0, 0][:n]))
    env.step(np.array([light1, attention, light1][:n]))
    env.step(np.zeros(n, dtype=int))
    return env


def test_one_foreach_call_steps_each_optimizer_bit_for_bit() -> None:
    env = _grown()
    models = [e.model for e in env.envs]
    twins = copy.deepcopy(models)
    for group in (models, twins):
        for m in group:
            for p in m.parameters():
                p.grad = torch.full_like(p, 0.01) if p.requires_grad else None
    step_all(opt for m in models for opt in m.optimizers())
    for m in twins:
        for opt in m.optimizers():
            opt.step()
    for m, twin in zip(models, twins, strict=True):
        for p, q in zip(m.parameters(), twin.parameters(), strict=True):
            assert torch.equal(p, q)


def test_grouped_forward_and_measurement_agree_with_each_model() -> None:
    env = _grown()
    models = [e.model for e in env.envs]
    val = env.envs[0].data.val
    for m in models:
        m.eval()
    x = val.x[:64]
    with torch.no_grad():
        grouped, _ = GroupedCNN(models).forward(x.repeat(1, len(models), 1), training=False)
        for k, m in enumerate(models):
            torch.testing.assert_close(grouped[k], m(x), rtol=1e-5, atol=1e-6)
    for m in models:
        m.train()
    expected = [measure_seeds(m, val, 500) for m in models]
    for got, want in zip(_measure_grouped(models, val, 500), expected, strict=True):
        assert got.accuracy == want.accuracy
        assert got.loss == pytest.approx(want.loss, rel=BATCHED_RTOL, abs=BATCHED_ATOL)
        assert got.contributions.keys() == want.contributions.keys()
        for slot, value in want.contributions.items():
            assert got.contributions[slot] == pytest.approx(value, abs=BATCHED_ATOL)


# ---------------------------------------------------------------------------- out of memory
def _group_inputs(env: envs.BatchedGrowthEnv) -> tuple[list, list, list]:
    return (
        [e._ep.model for e in env.envs],
        [e.data.train for e in env.envs],
        [e._ep.batches for e in env.envs],
    )


def _oom_at(monkeypatch: pytest.MonkeyPatch, calls: set[int]) -> None:
    """The grouped forward runs out of memory on the given calls (counted from 0)."""
    forward, count = GroupedCNN.forward, iter(range(10**6))

    def failing(self, x, training):
        if next(count) in calls:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(self, x, training)

    monkeypatch.setattr(GroupedCNN, "forward", failing)


def test_a_grouped_batch_out_of_memory_finishes_the_step_env_by_env(monkeypatch) -> None:
    env, twin = _grown(), _grown()  # the same three episodes, twice
    _oom_at(monkeypatch, {0})  # the step's first grouped batch: every env trains alone
    stats = train_group(*_group_inputs(env), 4)
    for e, alone in enumerate(twin.envs):
        expected = train_batches(alone._ep.model, alone.data.train, alone._ep.batches, 4)
        assert stats[e] == expected  # the single env's own numbers, bit for bit
        model, reference = env.envs[e]._ep.model, alone._ep.model
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(p, q)
        assert model.steps_taken == reference.steps_taken


def test_out_of_memory_mid_step_keeps_every_batch_and_the_batch_order(monkeypatch) -> None:
    env, twin = _grown(), _grown()
    _oom_at(monkeypatch, {2})  # two grouped batches, then the rest alone
    stats = train_group(*_group_inputs(env), 5)
    reference = train_group(*_group_inputs(twin), 5)  # all five grouped
    for e, (got, want) in enumerate(zip(stats, reference, strict=True)):
        assert not got.oom and not got.diverged
        assert got.loss == pytest.approx(want.loss, rel=BATCHED_RTOL, abs=BATCHED_ATOL)
        assert got.accuracy == want.accuracy  # counts of the same batches
        assert env.envs[e]._ep.model.steps_taken == twin.envs[e]._ep.model.steps_taken
        drawn, expected = env.envs[e]._ep.batches.next(), twin.envs[e]._ep.batches.next()
        assert torch.equal(drawn, expected)  # the failed batch was drawn again, not skipped


def test_an_env_out_of_memory_alone_too_reports_oom_and_the_others_train(monkeypatch) -> None:
    env = _grown()
    _oom_at(monkeypatch, {0})
    starving = env.envs[1]._ep.model

    def no_memory(*args, **kwargs):
        raise GrowthOOMError(0, "injected")

    monkeypatch.setattr(starving, "train_step", no_memory)
    stats = train_group(*_group_inputs(env), 3)
    assert stats[1].oom and np.isnan(stats[1].loss)  # no batch finished
    assert not stats[0].oom and not stats[2].oom and np.isfinite(stats[0].loss)

    def live() -> list[str]:
        return [s for s in starving.slots if starving.slot(s).stage.is_live]

    assert live() == ["block0", "block1"]  # conv_light at step 1, attention at step 2
    env.envs[1]._after_training(stats[1])  # what the vector env does with it, as the single env
    assert live() == ["block0"]  # the newest seed was pruned to give memory back
