"""``simic evaluate`` on a task family: per-instance rows, a family average, the instances."""

import contextlib
import csv
import io
import json
import statistics

import gymnasium as gym
import pytest

import envs
from simic.cli import main
from simic.common.errors import SimicError
from simic.common.stats import mean_ci
from simic.evaluation import EvaluateConfig, episode_record, evaluate
from simic.policies import make_policy, run_episode

FAMILY = "simic/Grow-Family-HeldOut-v0"
INSTANCES = list(envs.FAMILIES[FAMILY].names)
TINY = ["--env-kwargs", "budget=3", "batches_per_step=1"]


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    out = tmp_path_factory.mktemp("family")
    argv = ["evaluate", "--env", FAMILY, *TINY, "--policy", "heuristic", "--policy", "random"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main([*argv, "--episodes", "2", "--seed", "1000", "--out", str(out)])
    return out, status, printed.getvalue()


def test_the_table_has_a_row_per_instance_and_a_family_average(evaluation):
    _, status, printed = evaluation
    assert status == 0
    assert "3 instances" in printed
    for policy in ("heuristic", "random"):
        block = printed.split(f"\n{policy}\n")[1]
        rows = block.splitlines()[: len(INSTANCES) + 1]
        assert [r.split()[0] for r in rows] == [*INSTANCES, "family"]


def test_results_hold_the_instance_per_episode_and_the_summaries(evaluation):
    out, _, _ = evaluation
    data = json.loads((out / "results.json").read_text())
    assert data["schema_version"] == 1 and data["instances"] == INSTANCES
    assert data["task"] == "digits+mnist1d"
    for entry in data["policies"]:
        episodes = entry["episodes"]
        pairs = [(e["instance"], e["seed"]) for e in episodes]
        assert pairs == [(i, s) for i in INSTANCES for s in (1000, 1001)]  # every policy alike
        assert list(entry["instance_summaries"]) == INSTANCES
        means = [entry["instance_summaries"][i]["return"]["mean"] for i in INSTANCES]
        family = entry["family_summary"]["return"]
        assert family["mean"] == pytest.approx(statistics.fmean(means))
        per_seed = [
            statistics.fmean(e["return"] for e in episodes if e["seed"] == seed)
            for seed in (1000, 1001)
        ]
        assert family["ci95"] == pytest.approx(mean_ci(per_seed).half_width)
        assert family["n"] == 2
    with (out / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and list(rows[0])[:3] == ["policy", "seed", "instance"]
    assert (out / "instances.png").read_bytes()[:4] == b"\x89PNG"


def test_a_family_episode_replays_from_the_results(evaluation):
    out, _, _ = evaluation
    record = episode_record(out / "results.json", "heuristic", 1001, "digits-w8x16-rent0.05")
    assert record.task == "digits" and record.kwargs["param_rent"] == 0.05
    assert record.validate().ok
    with pytest.raises(SimicError, match="name the episode's instance"):
        episode_record(out / "results.json", "heuristic", 1001)


def test_run_episode_passes_options_and_records_the_instance():
    env = gym.make("simic/Grow-Family-v0", budget=2, batches_per_step=1)
    policy = make_policy("nogrow", env.unwrapped)
    result = run_episode(env, policy, 7, {"instance": "mnist1d-w16x32-rent0"})
    assert result.instance == "mnist1d-w16x32-rent0"
    plain = gym.make("simic/Grow-MNIST1D-v0", budget=2, batches_per_step=1)
    assert run_episode(plain, make_policy("nogrow", plain.unwrapped), 7).instance is None


def test_a_plain_env_report_has_no_family_fields(tmp_path):
    config = EvaluateConfig(
        policies=("nogrow",),
        episodes=1,
        env_kwargs={"budget": 2, "batches_per_step": 1},
        out=str(tmp_path),
    )
    report = evaluate(config, out=lambda _: None)
    assert report.instances == () and report.family_summaries == {}
    data = json.loads((tmp_path / "results.json").read_text())
    assert "instances" not in data
    entry = data["policies"][0]
    assert set(entry) == {"policy", "summary", "episodes"}
    assert "instance" not in entry["episodes"][0]
    assert not (tmp_path / "instances.png").exists()


def test_a_family_episode_exports_its_instance_host(tmp_path):
    from simic.evaluation.export import evaluate_grown_model, export_grown_model, load_grown_model

    env = gym.make("simic/Grow-Family-v0", budget=2, batches_per_step=1)
    env.reset(seed=1, options={"instance": "mnist1d-w16x32-rent0"})
    env.step(0)
    *_, info = env.step(0)
    grown = load_grown_model(export_grown_model(env.unwrapped, tmp_path / "m.pt"))
    assert grown.kwargs["host_widths"] == [16, 32]
    assert evaluate_grown_model(grown) == info["test_accuracy"]
