"""The learning proof: its jobs, its numbers and its report, from evaluations made up here."""

import argparse
import dataclasses
import json
import re
import shutil
import sys

import pytest
import yaml

from benchmarks.common.jobs import add_wall
from benchmarks.learning_proof import cli, jobs, layout, report, statistics
from simic.common.envutil import load_config_file
from simic.training.config import TrainConfig


def test_learning_proof_pairs_episodes_by_instance_and_seed(tmp_path):
    rows = ["policy,instance,seed,return,test_accuracy"]
    for seed in range(4):
        for instance, base in (("a", 0.5), ("b", 0.3)):
            rows.append(f"heuristic,{instance},{seed},{base},0.6")
            for k, gain in ((1, 0.1), (2, 0.2)):
                rows.append(f"/m/run{k}.zip,{instance},{seed},{base + gain + 0.01 * seed},0.7")
    csv_file = tmp_path / "episodes.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    table = statistics.read_episodes(csv_file)
    assert set(table) == {"heuristic", "run1", "run2"}
    diff = statistics.paired(table["run1"], table["heuristic"], "return")
    assert abs(diff["family"]["mean"] - 0.115) < 1e-9 and diff["family"]["n"] == 4
    assert set(diff["instances"]) == {"a", "b"}
    pooled = statistics.pooled(table, ["run1", "run2"])
    assert abs(pooled[("a", 0)]["return"] - 0.65) < 1e-9


def _proof_csv(folder, policy, base, gain=0.0):
    folder.mkdir(parents=True)
    rows = ["policy,instance,seed,return,test_accuracy"]
    for seed in range(5):
        for instance, level in (("a-rent0", base), ("b", base - 0.2)):
            value = level + gain + 0.01 * ((seed * 7) % 3)
            rows.append(f"{policy},{instance},{seed},{value},{0.5 + gain}")
    (folder / "episodes.csv").write_text("\n".join(rows) + "\n")
    (folder / "results.json").write_text('{"partial": false}')


def test_a_run_with_one_instance_significantly_below_the_heuristic_is_not_never_worse():
    def run(*highs: float) -> dict:
        instances = {f"i{k}": {"low": h - 0.1, "high": h} for k, h in enumerate(highs)}
        return {"heuristic": {"return": {"instances": instances}}}

    fam = {"runs": ["run1", "run2"], "paired": {"run1": run(0.1, 0.0), "run2": run(0.2, -0.001)}}
    assert report._never_worse(fam) == "1/2"


def test_learning_proof_report_figure_and_readme_come_from_the_evaluations(proof_sandbox):
    tmp_path, readme = proof_sandbox / "results", proof_sandbox / "README.md"
    for family in layout.FAMILIES:
        short = family.split("/")[-1]
        for i, base in enumerate(layout.BASELINES):
            _proof_csv(tmp_path / "proof_eval" / short / base, base, 0.5, gain=-0.01 * i)
        for k in (1, 2):
            _proof_csv(
                tmp_path / "proof_eval" / short / f"run{k}", f"/m/run{k}.zip", 0.5, gain=0.05 * k
            )
    add_wall(tmp_path / "proof_runs" / "run1" / layout.WALL_FILE, 60.0)
    add_wall(tmp_path / "proof_runs" / "run1" / layout.WALL_FILE, 30.0)
    args = argparse.Namespace(runs=2, parallel=2, config=layout.RECIPE, episodes=5, seed=0)
    result = report.write_report(args, invocation_s=1.0)

    assert result["wall_s"]["train_per_run"] == {"run1": 90.0, "run2": None}
    fam = result["families"][layout.TRAINING_FAMILY]
    diff = fam["paired"]["run2"]["heuristic"]["return"]["family"]
    assert abs(diff["mean"] - 0.10) < 1e-9 and diff["n"] == 5
    assert abs(fam["paired"]["pooled"]["heuristic"]["return"]["family"]["mean"] - 0.075) < 1e-9
    assert set(fam["means"]["nogrow"]) == {"a-rent0", "b", "family average"}
    written = (tmp_path / "learning_proof.md").read_text()
    assert "| a-rent0 | +5.0 ± 0.0 | +10.0 ± 0.0 | +7.5 ± 0.0 |" in written  # test accuracy
    for family in layout.FAMILIES:
        assert (tmp_path / f"learning_proof_{family.split('/')[-1]}.png").stat().st_size > 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert "| Grow-Family-v0 | heuristic |" in text and "2/2" in text
    assert json.loads((tmp_path / "learning_proof.json").read_text())["episodes"] == 5
    assert "Partial" not in text

    # Redrawn where the raw folders are gone (a clone): the recorded wall times are kept.
    shutil.rmtree(tmp_path / "proof_runs")
    again = report.write_report(args, invocation_s=None)["wall_s"]
    assert again["train_per_run"]["run1"] == 90.0 and again["invocation"] == 1.0
    other = tmp_path / "other_recipe.yaml"  # another recipe's recorded times are not reused
    other.write_text(yaml.safe_dump({**load_config_file(layout.RECIPE), "timesteps": 7}))
    fresh = report.write_report(argparse.Namespace(**{**vars(args), "config": other}), None)
    assert fresh["wall_s"]["train_per_run"]["run1"] is None
    assert fresh["wall_s"]["invocation"] is None
    assert re.search(r"\| this report \| timesteps=\d+, warm_start=schedule-best", written)

    # An earlier attempt, archived with the recipe that made it, gets its own row.
    archived = tmp_path / "attempts" / "attempt0"
    (archived / "models").mkdir(parents=True)
    old = json.loads((tmp_path / "learning_proof.json").read_text())
    del old["recipe"]  # archived before reports recorded their recipe: read from models/
    (archived / "learning_proof.json").write_text(json.dumps(old))
    (archived / "models" / layout.RECIPE.name).write_text("timesteps: 99\nppo:\n  ent_coef: 0.5\n")
    report.write_report(args, invocation_s=1.0)
    rows = [
        line
        for line in (tmp_path / "learning_proof.md").read_text().splitlines()
        if line.startswith(("| attempt0 ", "| this report "))
    ]
    assert len(rows) == 2
    assert "timesteps=99, warm_start=, warm_start_epochs=30, warm_start_anchor=0" in rows[0]
    assert "ent_coef=0.5, n_epochs=10" in rows[0]
    assert "| +0.075 ± 0.000 |" in rows[0] and "| 2/2 | 2/2 |" in rows[0]

    # An evaluation still running (partial results) is left out, and the report says so.
    (tmp_path / "proof_eval" / "Grow-Family-v0" / "growall" / "results.json").write_text(
        '{"partial": true}'
    )
    result = report.write_report(args, invocation_s=1.0)
    fam = result["families"][layout.TRAINING_FAMILY]
    assert not fam["complete"] and "growall" not in fam["baselines"]
    assert "Partial" in readme.read_text()


def test_learning_proof_retrains_models_and_runs_another_recipe_made(tmp_path, monkeypatch):
    for name, folder in (("MODELS", "models"), ("RUNS", "runs"), ("EVALS", "eval")):
        monkeypatch.setattr(layout, name, tmp_path / folder)
    recipe = tmp_path / "family_recipe.yaml"
    recipe.write_text("env: simic/Grow-Family-v0\ntimesteps: 64\nppo:\n  ent_coef: 0.0\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "run1.zip").write_bytes(b"model")

    # The same settings (another comment) made the committed models: they count as trained.
    (models / recipe.name).write_text("# made earlier\n" + recipe.read_text())
    assert [job.done() for job in jobs.train_jobs(recipe, 2, None)] == [True, False]
    # Another recipe made them: they are removed (git keeps them) and trained again.
    (models / recipe.name).write_text(recipe.read_text().replace("0.0", "0.01"))
    assert [job.done() for job in jobs.train_jobs(recipe, 1, None)] == [False]
    assert list(models.iterdir()) == []

    # A run folder another recipe started is not resumed with this one.
    run = tmp_path / "runs" / "run1"
    run.mkdir(parents=True)
    config = TrainConfig.from_mapping({"env": "simic/Grow-Family-v0", "seed": 1, "out": str(run)})
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(SystemExit, match="started with another recipe"):
        jobs.train_jobs(recipe, 1, None)
    same = dataclasses.replace(config, ppo=dataclasses.replace(config.ppo, ent_coef=0.0))
    (run / "config.json").write_text(json.dumps(same.to_dict()))
    assert "--resume" in jobs.train_jobs(recipe, 1, None)[0].argv

    # A model that replaces an earlier one drops that model's evaluations.
    (run / "model.zip").write_bytes(b"new")
    stale = tmp_path / "eval" / "Grow-Family-v0" / "run1"
    stale.mkdir(parents=True)
    (stale / "results.json").write_text("{}")
    kept = tmp_path / "eval" / "Grow-Family-v0" / "heuristic"
    kept.mkdir()
    jobs.keep_model(run, 1, recipe)
    assert (models / "run1.zip").read_bytes() == b"new" and not stale.exists() and kept.exists()


def test_the_readme_headline_is_the_one_generated_from_the_results_file():
    results = layout.RESULTS / "learning_proof.json"
    text = layout.README.read_text()
    block = re.search(
        re.escape(layout.README_START) + r"\n(.*?)\n" + re.escape(layout.README_END), text, re.S
    )
    assert block is not None, "README.md lost its learning-proof markers"
    if not results.is_file():
        pytest.skip("no learning_proof.json yet")
    result = json.loads(results.read_text())
    assert block.group(1) == report.headline(result), "regenerate: --report-only"


def test_report_only_without_evaluations_keeps_the_committed_report(proof_sandbox, capsys):
    readme = (proof_sandbox / "README.md").read_text()
    assert cli.main(["--report-only"]) == 2
    assert "nothing to redraw" in capsys.readouterr().err
    assert not (proof_sandbox / "results").exists()  # nothing written
    assert (proof_sandbox / "README.md").read_text() == readme


def test_the_proof_runs_its_jobs_and_reports_a_failed_one(tmp_path, monkeypatch, capsys):
    # Jobs are made up (python -c), so the proof's plumbing runs in a second: one evaluation
    # fails; the others still finish and the proof exits 1 without a report.
    monkeypatch.setattr(layout, "LOGS", tmp_path / "logs")
    ran = tmp_path / "ran"
    ran.mkdir()

    def job(name, code):
        return jobs.Job(name, [sys.executable, "-c", code], done=lambda: False)

    made = [job(f"eval-{k}", f"open({str(ran / str(k))!r}, 'w')") for k in range(3)]
    made.insert(1, job("eval-bad", "raise SystemExit(3)"))
    monkeypatch.setattr(cli, "train_jobs", lambda *args: [])
    monkeypatch.setattr(cli, "eval_jobs", lambda *args: made)
    assert cli.main(["--runs", "1", "--parallel", "2"]) == 1
    assert sorted(p.name for p in ran.iterdir()) == ["0", "1", "2"]
    assert "eval-bad exited with status 3" in capsys.readouterr().err
