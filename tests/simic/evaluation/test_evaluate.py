"""``simic evaluate``: the table, results.json, episodes.csv, figures, replay and export."""

import contextlib
import csv
import io
import json

import pytest

from simic.cli import main
from simic.evaluation import episode_record


@pytest.fixture(scope="module")
def acceptance_evaluation(tmp_path_factory):
    """The acceptance command, run once; every test that reads its files gets them written."""
    out = tmp_path_factory.mktemp("eval")
    argv = [
        "evaluate",
        "--env",
        "simic/Grow-MNIST1D-v0",
        "--policy",
        "heuristic",
        "--policy",
        "random",
        "--policy",
        "nogrow",
        "--policy",
        "growall",
        "--episodes",
        "3",
        "--seed",
        "1000",
        "--out",
        str(out),
    ]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(argv)
    return out, status, printed.getvalue()


def test_acceptance_command_writes_table_results_csv_and_figures(acceptance_evaluation):
    out, status, printed = acceptance_evaluation
    assert status == 0
    for policy in ("heuristic", "random", "nogrow", "growall"):
        assert policy in printed
    assert "test accuracy %" in printed and "±" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["schema_version"] == 1 and data["seeds"] == [1000, 1001, 1002]
    assert [p["policy"] for p in data["policies"]] == ["heuristic", "random", "nogrow", "growall"]
    for entry in data["policies"]:
        assert set(entry["summary"]["test_accuracy"]) == {"mean", "ci95", "n"}
        assert [e["seed"] for e in entry["episodes"]] == [1000, 1001, 1002]
    with (out / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert {"policy", "seed", "return", "test_accuracy", "param_growth"} <= set(rows[0])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["pareto.png", "validation_curves.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_every_episode_in_results_replays(acceptance_evaluation):
    out, _, _ = acceptance_evaluation
    record = episode_record(out / "results.json", "growall", 1001)
    report = record.validate()
    assert report.ok, str(report)


def test_nogrow_never_grows_and_growall_does(acceptance_evaluation):
    out, _, _ = acceptance_evaluation
    data = {p["policy"]: p for p in json.loads((out / "results.json").read_text())["policies"]}
    assert data["nogrow"]["summary"]["param_growth"]["mean"] == 0
    assert data["growall"]["summary"]["param_growth"]["mean"] > 0


@pytest.mark.slow
def test_parallel_workers_give_the_same_numbers(tmp_path, capsys):
    base = ["evaluate", "--policy", "random", "--episodes", "2", "--env-kwargs", "budget=4"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--n-envs", "2", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["policies"] == b["policies"]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--policy", "heuristc"], "did you mean 'heuristic'"),
        (["--policy", "missing/model.zip"], "missing/model.zip"),
        (["--env", "simic/Grow-Digit-v0"], "did you mean 'simic/Grow-Digits-v0'"),
        (["--episodes", "0"], "episodes must be an int >= 1"),
        (["--save-model"], "--save-model needs --out"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, expected):
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simic: error:") and expected in err and "\n" not in err


def test_saved_models_reload_and_reproduce_their_test_accuracy(tmp_path, capsys):
    from simic.evaluation.export import evaluate_grown_model, load_grown_model

    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--policy",
                "growall",
                "--episodes",
                "2",
                "--out",
                str(out),
                "--env-kwargs",
                "budget=8",
                "--save-model",
            ]
        )
        == 0
    )
    data = json.loads((out / "results.json").read_text())
    for episode in data["policies"][0]["episodes"]:
        grown = load_grown_model(out / episode["model_file"])
        assert evaluate_grown_model(grown) == episode["test_accuracy"]


@pytest.mark.slow
def test_heuristic_beats_nogrow_over_ten_held_out_seeds():
    """Acceptance: over 10 seeds on the default env, heuristic > nogrow on mean test accuracy."""
    from simic.evaluation import EvaluateConfig, evaluate

    report = evaluate(
        EvaluateConfig(policies=("heuristic", "nogrow"), episodes=10, seed=1000),
        out=lambda line: None,
    )
    heuristic = report.summaries["heuristic"].test_accuracy
    nogrow = report.summaries["nogrow"].test_accuracy
    assert heuristic.n == nogrow.n == 10
    assert heuristic.mean > nogrow.mean, (heuristic, nogrow)


def test_envs_command_lists_every_id(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for env_id in (
        "simic/Grow-MNIST1D-v0",
        "simic/Grow-MNIST1D-Transformer-v0",
        "simic/Grow-Digits-v0",
        "simic/Grow-CIFAR10-v0",
        "simic/Grow-Family-v0",
        "simic/Grow-Family-HeldOut-v0",
    ):
        assert env_id in out
    assert "digits-w8x16-rent0.05" in out
    assert "626" in out and "block1(16)" in out
