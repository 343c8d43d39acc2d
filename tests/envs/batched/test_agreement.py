"""THE acceptance test: N batched episodes against N single-env episodes, same scripted actions.

Germinate, fossilize, prune, masked (penalised) actions, a partial reset mid-batch and the
NEXT_STEP autoreset at the budget are all played; observations, rewards and masks agree within
:data:`tests.envs.helpers.BATCHED_RTOL` and every discrete outcome is equal.
"""

from __future__ import annotations

import numpy as np
import pytest

import envs
from tests.envs.helpers import (
    BATCHED_ATOL,
    BATCHED_RTOL,
    FAST,
    assert_step_agrees,
    intent,
)

SCRIPT = {  # step -> per env intent (kind, slot, blueprint); anything else is WAIT
    0: [("germinate", "block1", "conv_light"), ("germinate", "block0", "depthwise"), ("wait",)],
    1: [("wait",), ("germinate", "block1", "conv_heavy"), ("fossilize", "block0")],
    2: [("wait",), ("prune", "block0"), ("germinate", "block1", "attention")],
    3: [("fossilize", "block1"), ("wait",), ("wait",)],
    4: [("wait",), ("germinate", "block0", "conv_light"), ("prune", "block1")],
    6: [("germinate", "block0", "conv_light"), ("fossilize", "block1"), ("wait",)],
}
PARTIAL_RESET_AT = 3  # env 2 restarts mid-episode (reset_mask), the others play on


def _play(batched: envs.BatchedGrowthEnv, singles: list[envs.GrowthEnv], steps: int) -> dict:
    n = len(singles)
    obs, _ = batched.reset(seed=7)
    single_obs = np.stack([s.reset(seed=7 + e)[0] for e, s in enumerate(singles)])
    np.testing.assert_array_equal(obs, single_obs)  # nothing trained yet: bit-equal
    restart = np.zeros(n, dtype=bool)
    counts = {"germinated": 0, "fossilized": 0, "pruned": 0, "invalid": 0, "autoreset": 0}
    for t in range(steps):
        if t == PARTIAL_RESET_AT:
            mask = np.array([False] * (n - 1) + [True])
            obs, _ = batched.reset(options={"reset_mask": mask})
            single_obs[-1] = singles[-1].reset()[0]
            np.testing.assert_allclose(obs, single_obs, rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
        masks = np.stack([s.action_masks() for s in singles])
        np.testing.assert_array_equal(batched.action_masks(), masks)
        wants = (SCRIPT.get(t, []) + [("wait",)] * n)[:n]
        actions = np.array([intent(s, *w) for s, w in zip(singles, wants, strict=True)])
        obs, rewards, terminated, _, infos = batched.step(actions)
        for e, single in enumerate(singles):
            if restart[e]:  # NEXT_STEP autoreset: the action is ignored, the env restarts
                (expected, _), reward, done = single.reset(), 0.0, False
                counts["autoreset"] += 1
            else:
                expected, reward, done, _, info = single.step(actions[e])
                assert_step_agrees({k: v[e] for k, v in infos.items()}, info)
                counts["invalid"] += info["invalid_action"]
                for k in ("germinated", "fossilized", "pruned"):
                    counts[k] = max(counts[k], info[f"seeds_{k}"])
            np.testing.assert_allclose(obs[e], expected, rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
            single_obs[e] = expected
            np.testing.assert_allclose(rewards[e], reward, rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
            assert terminated[e] == done
            restart[e] = done
        np.testing.assert_array_equal(infos["action_mask"], batched.action_masks())
    return counts


@pytest.mark.slow
def test_batched_episodes_agree_with_single_envs() -> None:
    kwargs = {**FAST, "budget": 5, "batches_per_step": 2}
    batched = envs.BatchedGrowthEnv(3, **kwargs)
    singles = [envs.GrowthEnv(**kwargs) for _ in range(3)]
    counts = _play(batched, singles, steps=9)
    # the script exercised what it claims to
    assert counts["germinated"] and counts["fossilized"] and counts["pruned"]
    assert counts["invalid"] and counts["autoreset"]


@pytest.mark.slow
def test_family_envs_group_by_host_shape() -> None:
    """Family instances of different widths (and Digits' 2-D host) step together, each as the
    single family env with its seed would."""
    kwargs = {**FAST, "budget": 2}
    batched = envs.BatchedGrowthEnv(4, family="simic/Grow-Family-HeldOut-v0", **kwargs)
    singles = [envs.FamilyGrowthEnv("simic/Grow-Family-HeldOut-v0", **kwargs) for _ in range(4)]
    _play(batched, singles, steps=2)
    assert len({s.instance for s in singles}) > 1
    assert len(batched._groups(list(range(4)))) > 1
