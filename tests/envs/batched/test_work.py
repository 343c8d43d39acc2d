"""The batched step's parts against the single env's: optimizer step, grouped seeds, measuring."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import envs
from envs.batched.grouped_host import GroupedCNN
from envs.batched.optim import step_all
from envs.batched.work import _measure_grouped
from envs.stepping import measure_seeds
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
