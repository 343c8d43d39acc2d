"""Acceptance: on the default id, scripted growth beats the static host by >= 5 test points."""

import statistics

import pytest

from benchmarks.growth_pays import compare


@pytest.mark.slow
def test_scripted_conv_light_beats_always_wait_on_mnist1d():
    results = compare("simic/Grow-MNIST1D-v0", seeds=[0, 1, 2, 3, 4])
    wait = statistics.fmean(r["test_accuracy"] for r in results["wait"])
    grown = statistics.fmean(r["test_accuracy"] for r in results["script"])
    assert all(r["param_growth"] > 0 for r in results["script"])
    assert all(r["param_growth"] == 0 for r in results["wait"])
    assert grown - wait >= 0.05, f"grown {grown:.3f} vs static {wait:.3f}"
