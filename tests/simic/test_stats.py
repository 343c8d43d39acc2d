"""simic.common.stats: intervals, the family average by seed and paired differences."""

import math
import statistics

import pytest

from simic.common.stats import (
    family_average_by_seed,
    family_cis,
    mean_ci,
    paired_differences,
)


def test_mean_ci_is_a_t_interval_and_nan_for_one_value():
    m = mean_ci([1.0, 2.0, 3.0])
    assert m.mean == 2.0 and m.n == 3
    assert m.half_width == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert (m.low, m.high) == (m.mean - m.half_width, m.mean + m.half_width)
    assert math.isnan(mean_ci([5.0]).half_width)
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci([])


def test_the_family_average_by_seed_keeps_only_seeds_played_on_every_instance():
    values = {("a", 2): 1.0, ("b", 2): 3.0, ("a", 1): 0.0, ("b", 1): 1.0, ("a", 3): 9.0}
    assert family_average_by_seed(values, ["a", "b"]) == {1: 0.5, 2: 2.0}
    assert list(family_average_by_seed(values, ["a"])) == [1, 2, 3]  # in seed order
    assert family_average_by_seed({(None, 4): 2.5}, [None]) == {4: 2.5}  # a plain env


def test_family_cis_are_per_instance_and_over_the_per_seed_averages():
    values = {(i, s): float(s + (i == "b")) for i in ("b", "a") for s in range(4)}
    instances, family = family_cis(values)
    assert list(instances) == ["a", "b"]
    assert instances["a"] == mean_ci([0.0, 1.0, 2.0, 3.0])
    assert family == mean_ci([0.5, 1.5, 2.5, 3.5])
    assert family.mean == statistics.fmean(i.mean for i in instances.values())


def test_paired_differences_pair_episode_by_episode_and_refuse_unpaired_ones():
    ours = {("a", 0): 1.0, ("a", 1): 2.0}
    theirs = {("a", 1): 0.5, ("a", 0): 1.0}
    assert paired_differences(ours, theirs) == {("a", 0): 0.0, ("a", 1): 1.5}
    with pytest.raises(ValueError, match="do not pair"):
        paired_differences(ours, {("a", 0): 1.0})
