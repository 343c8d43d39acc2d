"""``simic evaluate --batched``: per-episode results match the one-by-one evaluation."""

from __future__ import annotations

import pytest

from simic.common.errors import SimicError
from simic.evaluation.batched import play_batched
from simic.evaluation.config import EvaluateConfig
from simic.evaluation.workers import play_jobs

KWARGS = {"budget": 4, "batches_per_step": 1, "batch_size": 32, "training_ticks": 1}


@pytest.mark.parametrize("spec", ["heuristic", "random"])
def test_batched_episodes_match_single_env_episodes(spec: str) -> None:
    # three seeds in batches of two: a full batch and one with a spare env
    jobs = [("simic/Grow-MNIST1D-v0", KWARGS, spec, s, "cpu", None, False, None) for s in (3, 4, 5)]
    single, batched = {}, {}
    play_jobs(jobs, 1, None, single)
    play_batched(jobs, 2, batched)
    assert single.keys() == batched.keys() == {0, 1, 2}
    for i in single:
        one, many = single[i].result, batched[i].result
        assert (one.seed, one.actions, one.events, one.params) == (
            many.seed,
            many.actions,
            many.events,
            many.params,
        )
        assert (one.seeds_germinated, one.seeds_pruned, one.diverged) == (
            many.seeds_germinated,
            many.seeds_pruned,
            many.diverged,
        )
        assert many.return_ == pytest.approx(one.return_, rel=1e-4, abs=1e-5)
        assert many.test_accuracy == pytest.approx(one.test_accuracy, rel=1e-4, abs=1e-5)


def test_batched_evaluation_refuses_what_it_cannot_batch() -> None:
    with pytest.raises(SimicError, match="batchable ids"):
        EvaluateConfig(env="simic/Grow-MNIST1D-Transformer-v0", batched=True)
