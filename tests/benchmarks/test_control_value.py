"""benchmarks.control_value: its statistics on returns whose answer is known, and one tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import control_value as cv


def test_hindsight_value_is_what_choosing_per_episode_adds() -> None:
    dominant = np.array([[1.0, 0.5, 0.7], [0.2, 0.1, 0.3]])  # schedule 0 best on every episode
    assert cv.hindsight_value(dominant) == 0.0
    split = np.array([[1.0, 0.0], [0.0, 1.0]])  # each episode wants the other schedule
    assert cv.hindsight_value(split) == pytest.approx(0.5)


def test_factor_value_is_zero_when_every_value_wants_the_same_plan() -> None:
    rng = np.random.default_rng(0)
    one = rng.normal(size=(4, 8)) + np.array([0.0, 0.3, 0.1, 0.0])[:, None]
    assert cv.factor_value(np.stack([one, one, one])) == pytest.approx(0.0)


def test_factor_value_measures_what_knowing_the_value_buys() -> None:
    # value 0 wants schedule 0, value 1 schedule 1, each by 0.1; one plan for both loses 0.05
    returns = np.zeros((2, 2, 6))
    returns[0, 0] += 0.1
    returns[1, 1] += 0.1
    assert cv.factor_value(returns) == pytest.approx(0.05)


def test_cross_fitting_does_not_reward_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(scale=0.05, size=(3, 40, 6))  # no factor effect, many schedules
    means = noise.mean(axis=2)
    in_sample = means.max(axis=1).mean() - means.mean(axis=0).max()  # picked and scored alike
    assert in_sample > 0.02
    assert abs(cv.factor_value(noise)) < in_sample / 2


def test_ci_brackets_the_estimate() -> None:
    returns = np.zeros((2, 2, 6))
    returns[0, 0] += 0.1 + np.linspace(0, 0.01, 6)
    returns[1, 1] += 0.1
    ci = cv.with_ci(cv.factor_value, returns)
    assert ci["low"] <= ci["value"] <= ci["high"]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """The benchmark's log and results under ``tmp_path``, with no tuning episodes."""
    monkeypatch.setattr(cv, "RESULTS", tmp_path)
    monkeypatch.setattr(cv, "EPISODES_FILE", tmp_path / "episodes.jsonl")
    monkeypatch.setattr(cv, "TUNING_FILE", tmp_path / "absent.jsonl")
    return tmp_path


def test_a_run_plays_measures_and_resumes(sandbox, monkeypatch) -> None:
    tmp_path = sandbox
    tiny = cv.Variant(
        "tiny",
        "simic/Grow-Family-v0",
        ("mnist1d-w4x8-rent0.05",),
        "class_shift_step",
        (0, 1),
        fixed={"early_classes": 5},
        schedules=lambda: ["none", "block1:conv_light@0"],
        description="a check",
    )
    monkeypatch.setitem(cv.VARIANTS, "tiny", tiny)
    argv = ["--variant", "tiny", "--seeds", "2", "--workers", "1", "--budget", "2"]
    argv += ["--out", str(tmp_path)]
    report = cv.main(argv)
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 2 * 2  # values x schedules x seeds
    row = report["variants"]["tiny"]["instances"]["mnist1d-w4x8-rent0.05"]
    assert {"hindsight", "knowing", "best_schedule", "best_per_value"} <= set(row)
    assert isinstance(report["variants"]["tiny"]["kept"], bool)
    saved = json.loads((tmp_path / "control_value_budget2.json").read_text())
    measured = report["variants"]["tiny"]["instances"]
    assert saved["variants"]["tiny"]["instances"] == json.loads(json.dumps(measured))
    assert "## tiny: a check" in (tmp_path / "control_value_budget2.md").read_text()
    cv.main(argv)  # resumes: nothing is played again
    assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == len(lines)


def test_a_family_without_hidden_factors_reports_what_its_context_is_worth(
    sandbox, monkeypatch
) -> None:
    tmp_path = sandbox
    plain = cv.Variant(
        "plain",
        "simic/Grow-Family-v0",
        ("mnist1d-w4x8-rent0", "mnist1d-w4x8-rent0.15"),
        schedules=lambda: ["none", "block1:conv_heavy@0"],
    )
    monkeypatch.setitem(cv.VARIANTS, "plain", plain)
    argv = ["--variant", "plain", "--seeds", "2", "--workers", "1", "--budget", "2"]
    report = cv.main([*argv, "--out", str(tmp_path)])["variants"]["plain"]
    assert "kept" not in report and "knowing" not in report["instances"]["mnist1d-w4x8-rent0"]
    assert report["context"]["low"] <= report["context"]["value"] <= report["context"]["high"]
    assert "Knowing the instance" in (tmp_path / "control_value_budget2.md").read_text()
