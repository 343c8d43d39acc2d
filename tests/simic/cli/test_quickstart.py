"""``simic quickstart``: the committed model's family result first, then the training smoke test;
and the shipped model itself (package data that plays the family it was trained on)."""

import dataclasses
import math
from pathlib import Path

import gymnasium as gym
import pytest

import envs
import simic
from simic.cli import main, quickstart
from simic.common import provenance
from simic.common.stats import MeanCI
from simic.evaluation import EvaluateConfig, EvaluatedEpisode, EvaluationReport
from simic.policies import EpisodeResult, make_policy
from simic.pretrained import FAMILY_MODEL, list_pretrained, pretrained_path
from simic.training import TrainResult

TINY = {"budget": 2, "batches_per_step": 1}  # seconds, not minutes: the table's shape is tested


@pytest.fixture
def tiny_family(monkeypatch):
    """Part 1 on two-step episodes; part 2's training replaced by a stub that records the output
    printed before it started, then reports a Ctrl-C (so part 2 stops there).

    schedule-best refuses episodes shorter than those it was tuned on, so nogrow stands in."""
    monkeypatch.setattr(quickstart, "FAMILY_BASELINES", ("heuristic", "nogrow"))
    committed = quickstart.committed_config
    monkeypatch.setattr(
        quickstart,
        "committed_config",
        lambda q: dataclasses.replace(committed(q), env_kwargs=dict(TINY)),
    )
    before_training: list[str] = []

    def stub_train(config, resume=False, out=print):
        before_training.append("started")
        return TrainResult(Path(config.out), 0, interrupted=True, exit_status=130)

    monkeypatch.setattr(quickstart, "train", stub_train)
    return before_training


def test_part_one_prints_the_family_table_and_reading_before_training_starts(
    tiny_family, tmp_path, capsys
):
    argv = ["quickstart", "--family-seeds", "1", "--n-envs", "1", "--out", str(tmp_path)]
    assert main(argv) == 130  # the stub's Ctrl-C: part 2 stopped after its heading
    out = capsys.readouterr().out
    assert tiny_family == ["started"]
    part1, part2 = out.index("== Part 1 of 2"), out.index("== Part 2 of 2")
    table = out.index("family average over the 9 instances")
    reading = out.index("reading: on 1 held-out seed per instance")
    assert part1 < table < reading < part2
    rows = [line.split()[0] for line in out[table:reading].splitlines()[3:]]
    assert rows == ["pretrained:grow-family-v0", "heuristic", "nogrow"]
    assert "one seed: no interval" in out
    assert "smoke test of the training pipeline" in out[part2:]
    assert (tmp_path / "committed" / "results.json").is_file()


def test_skip_committed_goes_straight_to_training(tiny_family, tmp_path, capsys):
    assert main(["quickstart", "--skip-committed", "--out", str(tmp_path)]) == 130
    out = capsys.readouterr().out
    assert "Part 1" not in out and "== Part 2 of 2" in out
    assert not (tmp_path / "committed").exists()


def test_family_seeds_below_one_is_a_one_line_error(capsys):
    assert main(["quickstart", "--family-seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "family_seeds must be an int >= 1" in err and "\n" not in err


def _episode(policy: str, seed: int, instance: str, return_: float) -> EvaluatedEpisode:
    result = EpisodeResult(
        *(policy, seed, (), (), return_, 0.5, (), 0.0, 0, 0, 0, 0, (), False, instance)
    )
    return EvaluatedEpisode(result)


def _report(returns: dict[str, list[float]]) -> EvaluationReport:
    """A two-instance family report: per policy, the return of each seed on both instances."""
    instances = ("a", "b")
    episodes = {
        policy: [_episode(policy, 5000 + k, i, r) for k, r in enumerate(rs) for i in instances]
        for policy, rs in returns.items()
    }
    config = EvaluateConfig(policies=tuple(returns))
    return EvaluationReport(config, "task", episodes, {}, instances=instances)


def test_the_reading_is_computed_from_the_paired_seeds():
    report = _report(
        {
            quickstart.LEARNED: [0.50, 0.52, 0.49],
            "heuristic": [0.40, 0.41, 0.40],  # always about 0.1 below: the interval excludes 0
            "schedule-best": [0.52, 0.48, 0.50],  # above, below, above: it includes 0
        }
    )
    diff = quickstart.paired_difference(report, quickstart.LEARNED, "heuristic")
    assert isinstance(diff, MeanCI) and diff.n == 3
    assert diff.mean == pytest.approx(0.1)
    assert diff.low > 0
    text = " ".join(quickstart.reading(report).split())
    assert "on 3 held-out seeds per instance" in text
    assert "0.100 above that of heuristic (paired by seed, 95% CI +0." in text
    assert "0.003 above that of schedule-best" in text
    assert "which includes 0: no difference shown with 3 seeds" in text
    assert text.count("includes 0") == 1


def test_shipped_model_is_package_data_and_plays_the_family_without_transfer():
    path = pretrained_path(FAMILY_MODEL)
    assert path.parent == Path(simic.__file__).resolve().parent / "pretrained"
    assert FAMILY_MODEL in list_pretrained()
    env = gym.make("simic/Grow-Family-v0")
    policy = make_policy(f"pretrained:{FAMILY_MODEL}", env.unwrapped)  # no transfer needed
    assert provenance.recorded(policy.model) == provenance.EnvSignature.of(env)
    assert isinstance(env.unwrapped, envs.FamilyGrowthEnv)


def test_every_shipped_file_is_listed_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the rule is the same on 3.10
    root = Path(simic.__file__).resolve().parents[1]
    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = listed["package-data"]
    for package in ("simic.pretrained", "simic.policies"):
        base = root / package.replace(".", "/")
        data = [p for p in base.rglob("*") if p.suffix in {".zip", ".json", ".md"}]
        assert data, package
        for file in data:
            relative = file.relative_to(base).as_posix()
            assert any(Path(relative).match(pattern) for pattern in patterns[package]), relative


def test_an_unknown_pretrained_name_is_a_one_line_error_with_a_suggestion(capsys):
    argv = ["evaluate", "--env", "simic/Grow-Family-v0", "--policy", "pretrained:grow-family"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'pretrained:grow-family-v0'" in err and "\n" not in err


def test_one_seed_has_no_interval_and_says_so():
    report = _report({quickstart.LEARNED: [0.5], "heuristic": [0.4], "schedule-best": [0.6]})
    diff = quickstart.paired_difference(report, quickstart.LEARNED, "schedule-best")
    assert diff is not None and math.isnan(diff.half_width)
    assert "0.100 below that of schedule-best (one seed" in " ".join(
        quickstart.reading(report).split()
    )
