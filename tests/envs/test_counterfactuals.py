"""The env's shared-prefix counterfactuals give the numbers of one full validation pass per seed."""

from __future__ import annotations

import numpy as np
import pytest

from envs.evaluation import evaluate_split
from envs.stepping import Stepping
from kasmina import SeedStage
from tests.envs.helpers import act

SCRIPTS = {
    "mnist1d": [
        ("germinate", "block0", "conv_light"),
        ("germinate", "block1", "depthwise"),
        ("wait",),
        ("wait",),
        ("wait",),
        ("fossilize", "block0"),
        ("germinate", "block0", "attention"),
    ],
    "mnist1d-transformer": [
        ("germinate", "layer1", "mlp"),
        ("germinate", "layer0", "lora"),
        ("wait",),
        ("wait",),
        ("fossilize", "layer1"),
    ],
}


def _full_passes(env) -> tuple[float, float, dict[str, float]]:
    """What the env computed before issue 9: a plain pass, then one full pass per live seed."""
    model, val, chunk = env.model, env.data.val, env.config.val_batch_size
    loss, acc = evaluate_split(model, val, chunk)
    out = {}
    for slot in model.iter_slots():
        if slot.stage is SeedStage.TRAINING:
            with model.counterfactual({slot.slot_id: 1.0}):
                out[slot.slot_id] = evaluate_split(model, val, chunk)[1] - acc
        elif slot.stage.is_live:
            with model.switched_off(slot.slot_id):
                out[slot.slot_id] = acc - evaluate_split(model, val, chunk)[1]
    return loss, acc, out


class Checked(Stepping):
    """The env's measurement, checked against full passes through the public seam."""

    def __init__(self, env) -> None:
        self.env, self.checked = env, []

    def measure(self, model, split, chunk_size):
        expected = _full_passes(self.env)
        measured = super().measure(model, split, chunk_size)
        assert (measured.loss, measured.accuracy, dict(measured.contributions)) == expected
        self.checked.append(len(expected[2]))
        return measured


@pytest.mark.parametrize("task", sorted(SCRIPTS))
@pytest.mark.parametrize("seed", [0, 11])
@pytest.mark.slow
def test_contributions_equal_full_validation_passes(make_fast_env, task, seed):
    env = make_fast_env(task, budget=9, batches_per_step=2)
    env.stepping = stepping = Checked(env)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for t in range(9):
        script = SCRIPTS[task]
        action = act(env, *script[t]) if t < len(script) else 0
        if not env.action_masks()[action]:
            action = int(rng.choice(np.flatnonzero(env.action_masks())))
        env.step(action)
    checked = stepping.checked
    assert len(checked) == 9 and max(checked) == 2  # two live seeds were measured at once
