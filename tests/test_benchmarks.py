"""Benchmarks stay runnable (smoke runs with tiny sizes; their numbers are not asserted here)."""

import dataclasses
import json
import re
import shutil

import pytest
import yaml

from benchmarks import batched_envs, checkpoint_memory, env_overhead, step_cost
from simic.common.envutil import load_config_file


def test_env_overhead_prints_the_ratio_last(capsys):
    assert env_overhead.main(["--pairs", "3", "--warmup", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("median ratio env/plain: ")
    float(lines[-1].rsplit(" ", 1)[1])


def test_env_overhead_with_a_live_seed_runs(capsys):
    assert env_overhead.main(["--pairs", "2", "--warmup", "0", "--seed-live"]) == 0
    assert "one HOLDING seed" in capsys.readouterr().out


def test_checkpoint_memory_benchmark_runs(capsys):
    assert checkpoint_memory.main(["--dim", "32", "--tokens", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "transformer/mlp" in out and "cnn/conv_heavy" in out


def test_step_cost_writes_the_table_and_the_splits(tmp_path, capsys):
    out = tmp_path / "step_cost.json"
    args = ["--episodes", "1", "--budget", "4", "--out", str(out)]
    assert step_cost.main(args) == 0
    report = json.loads(out.read_text())
    assert set(report["table"]["current"]) == {"wait", "one_seed", "two_seeds"}
    two = report["table"]["current"]["two_seeds"]
    assert two["live_seeds_mean"] == 2 and 0 < two["counterfactual_share"] < 1
    assert report["training_split"]["current"]["two_seeds"]["seeds_ms"] > 0
    assert len(report["machine"]["loadavg"]) == 3
    assert "| two_seeds |" in capsys.readouterr().out


def test_step_cost_settings_are_json_with_a_compared_tree(tmp_path):
    # --compare-tree is a Path: the report once failed to write after the whole measurement.
    args = step_cost._parser().parse_args(["--compare-tree", str(tmp_path), "--out", "x.json"])
    assert json.loads(json.dumps(step_cost.settings(args)))["compare_tree"] == str(tmp_path)


def test_batched_envs_prototype_agrees_and_writes_its_table(tmp_path):
    out = tmp_path / "batched_envs.json"
    args = ["--ns", "1", "2", "--reps", "1", "--steps", "1", "--scenarios", "mixed"]
    assert (
        batched_envs.main([*args, "--agree-n", "3", "--agree-steps", "1", "--out", str(out)]) == 0
    )
    report = json.loads(out.read_text())
    assert not report["partial"] and set(report["table"]["mixed"]) == {"1", "2"}
    assert report["agreement"]["mixed"]["grouped"]["params_max_abs_diff"] < 1e-5
    assert "| 2 |" in (tmp_path / "batched_envs_table.md").read_text()


def test_learning_proof_pairs_episodes_by_instance_and_seed(tmp_path):
    from benchmarks import learning_proof as proof

    rows = ["policy,instance,seed,return,test_accuracy"]
    for seed in range(4):
        for instance, base in (("a", 0.5), ("b", 0.3)):
            rows.append(f"heuristic,{instance},{seed},{base},0.6")
            for k, gain in ((1, 0.1), (2, 0.2)):
                rows.append(f"/m/run{k}.zip,{instance},{seed},{base + gain + 0.01 * seed},0.7")
    csv_file = tmp_path / "episodes.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    table = proof._episodes(csv_file)
    assert set(table) == {"heuristic", "run1", "run2"}
    diff = proof.paired(table["run1"], table["heuristic"], "return")
    assert abs(diff["family"]["mean"] - 0.115) < 1e-9 and diff["family"]["n"] == 4
    assert set(diff["instances"]) == {"a", "b"}
    pooled = proof.pooled(table, ["run1", "run2"])
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
    from benchmarks import learning_proof as proof

    def run(*highs: float) -> dict:
        instances = {f"i{k}": {"low": h - 0.1, "high": h} for k, h in enumerate(highs)}
        return {"heuristic": {"return": {"instances": instances}}}

    fam = {"runs": ["run1", "run2"], "paired": {"run1": run(0.1, 0.0), "run2": run(0.2, -0.001)}}
    assert proof._never_worse(fam) == "1/2"


@pytest.mark.slow
def test_learning_proof_report_figure_and_readme_come_from_the_evaluations(tmp_path, monkeypatch):
    import argparse

    from benchmarks import learning_proof as proof

    monkeypatch.setattr(proof, "RESULTS", tmp_path)
    monkeypatch.setattr(proof, "EVALS", tmp_path / "eval")
    monkeypatch.setattr(proof, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(proof, "ATTEMPTS", tmp_path / "attempts")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{proof.README_START}\nold\n{proof.README_END}\nrest\n")
    monkeypatch.setattr(proof, "README", readme)
    for family in proof.FAMILIES:
        short = family.split("/")[-1]
        for i, base in enumerate(proof.BASELINES):
            _proof_csv(tmp_path / "eval" / short / base, base, 0.5, gain=-0.01 * i)
        for k in (1, 2):
            _proof_csv(tmp_path / "eval" / short / f"run{k}", f"/m/run{k}.zip", 0.5, gain=0.05 * k)
    proof._add_wall(tmp_path / "runs" / "run1" / proof.WALL_FILE, 60.0)
    proof._add_wall(tmp_path / "runs" / "run1" / proof.WALL_FILE, 30.0)
    args = argparse.Namespace(runs=2, parallel=2, config=proof.RECIPE, episodes=5, seed=0)
    result = proof.write_report(args, invocation_s=1.0)

    assert result["wall_s"]["train_per_run"] == {"run1": 90.0, "run2": None}
    fam = result["families"][proof.TRAINING_FAMILY]
    diff = fam["paired"]["run2"]["heuristic"]["return"]["family"]
    assert abs(diff["mean"] - 0.10) < 1e-9 and diff["n"] == 5
    assert abs(fam["paired"]["pooled"]["heuristic"]["return"]["family"]["mean"] - 0.075) < 1e-9
    assert set(fam["means"]["nogrow"]) == {"a-rent0", "b", "family average"}
    report = (tmp_path / "learning_proof.md").read_text()
    assert "| a-rent0 | +5.0 ± 0.0 | +10.0 ± 0.0 | +7.5 ± 0.0 |" in report  # test accuracy
    for family in proof.FAMILIES:
        assert (tmp_path / f"learning_proof_{family.split('/')[-1]}.png").stat().st_size > 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert "| Grow-Family-v0 | heuristic |" in text and "2/2" in text
    assert json.loads((tmp_path / "learning_proof.json").read_text())["episodes"] == 5
    assert "Partial" not in text

    # Redrawn where the raw folders are gone (a clone): the recorded wall times are kept.
    shutil.rmtree(tmp_path / "runs")
    again = proof.write_report(args, invocation_s=None)["wall_s"]
    assert again["train_per_run"]["run1"] == 90.0 and again["invocation"] == 1.0
    other = tmp_path / "other_recipe.yaml"  # another recipe's recorded times are not reused
    other.write_text(yaml.safe_dump({**load_config_file(proof.RECIPE), "timesteps": 7}))
    fresh = proof.write_report(argparse.Namespace(**{**vars(args), "config": other}), None)
    assert fresh["wall_s"]["train_per_run"]["run1"] is None
    assert fresh["wall_s"]["invocation"] is None
    assert re.search(r"\| this report \| timesteps=\d+, warm_start=schedule-best", report)

    # An earlier attempt, archived with the recipe that made it, gets its own row.
    archived = tmp_path / "attempts" / "attempt0"
    (archived / "models").mkdir(parents=True)
    old = json.loads((tmp_path / "learning_proof.json").read_text())
    del old["recipe"]  # archived before reports recorded their recipe: read from models/
    (archived / "learning_proof.json").write_text(json.dumps(old))
    (archived / "models" / proof.RECIPE.name).write_text("timesteps: 99\nppo:\n  ent_coef: 0.5\n")
    proof.write_report(args, invocation_s=1.0)
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
    (tmp_path / "eval" / "Grow-Family-v0" / "growall" / "results.json").write_text(
        '{"partial": true}'
    )
    result = proof.write_report(args, invocation_s=1.0)
    fam = result["families"][proof.TRAINING_FAMILY]
    assert not fam["complete"] and "growall" not in fam["baselines"]
    assert "Partial" in readme.read_text()


def test_learning_proof_retrains_models_and_runs_another_recipe_made(tmp_path, monkeypatch):
    from benchmarks import learning_proof as proof
    from simic.training.config import TrainConfig

    for name, folder in (("MODELS", "models"), ("RUNS", "runs"), ("EVALS", "eval")):
        monkeypatch.setattr(proof, name, tmp_path / folder)
    recipe = tmp_path / "family_recipe.yaml"
    recipe.write_text("env: simic/Grow-Family-v0\ntimesteps: 64\nppo:\n  ent_coef: 0.0\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "run1.zip").write_bytes(b"model")

    # The same settings (another comment) made the committed models: they count as trained.
    (models / recipe.name).write_text("# made earlier\n" + recipe.read_text())
    assert [job.done() for job in proof.train_jobs(recipe, 2, None)] == [True, False]
    # Another recipe made them: they are removed (git keeps them) and trained again.
    (models / recipe.name).write_text(recipe.read_text().replace("0.0", "0.01"))
    assert [job.done() for job in proof.train_jobs(recipe, 1, None)] == [False]
    assert list(models.iterdir()) == []

    # A run folder another recipe started is not resumed with this one.
    run = tmp_path / "runs" / "run1"
    run.mkdir(parents=True)
    config = TrainConfig.from_mapping({"env": "simic/Grow-Family-v0", "seed": 1, "out": str(run)})
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(SystemExit, match="started with another recipe"):
        proof.train_jobs(recipe, 1, None)
    same = dataclasses.replace(config, ppo=dataclasses.replace(config.ppo, ent_coef=0.0))
    (run / "config.json").write_text(json.dumps(same.to_dict()))
    assert "--resume" in proof.train_jobs(recipe, 1, None)[0].argv

    # A model that replaces an earlier one drops that model's evaluations.
    (run / "model.zip").write_bytes(b"new")
    stale = tmp_path / "eval" / "Grow-Family-v0" / "run1"
    stale.mkdir(parents=True)
    (stale / "results.json").write_text("{}")
    kept = tmp_path / "eval" / "Grow-Family-v0" / "heuristic"
    kept.mkdir()
    proof._keep_model(run, 1, recipe)
    assert (models / "run1.zip").read_bytes() == b"new" and not stale.exists() and kept.exists()


def test_learning_proof_runner_orders_skips_and_reports_failures(tmp_path, monkeypatch):
    import sys

    from benchmarks import learning_proof as proof

    monkeypatch.setattr(proof, "RESULTS", tmp_path)
    marker = tmp_path / "a.txt"
    write = f"open({str(marker)!r}, 'w').write('a')"
    check = f"import sys; sys.exit(0 if open({str(marker)!r}).read() == 'a' else 3)"
    finished = []
    jobs = [
        proof.Job("a", [sys.executable, "-c", write], done=lambda: False,
                  wall_file=tmp_path / "a.wall.json", finish=lambda: finished.append("a")),
        proof.Job("b", [sys.executable, "-c", check], done=lambda: False, after="a"),
        proof.Job("skip", [sys.executable, "-c", "raise SystemExit(5)"], done=lambda: True),
    ]  # fmt: skip
    runner = proof.Runner(parallel=2)
    with pytest.raises(ValueError, match="waits for 'a', which is not queued before it"):
        runner.submit(jobs[1])
    for job in jobs:
        runner.submit(job)
    runner.wait()
    assert finished == ["a"] and proof._wall(tmp_path / "a.wall.json") > 0

    failing = proof.Runner(parallel=1)
    failing.submit(proof.Job("bad", [sys.executable, "-c", "raise SystemExit(4)"], lambda: False))
    failing.submit(proof.Job("after", [sys.executable, "-c", "pass"], lambda: False, after="bad"))
    with pytest.raises(proof.JobFailedError, match="bad exited with status 4"):
        failing.wait()


def test_learning_proof_runner_gives_a_two_core_job_both_cores(tmp_path, monkeypatch):
    import sys

    from benchmarks import learning_proof as proof

    monkeypatch.setattr(proof, "RESULTS", tmp_path)
    stamp = (
        "import sys, time; time.sleep(float(sys.argv[2])); "
        "open(sys.argv[1], 'w').write(repr(time.time()))"
    )
    wide = proof.Job(
        "wide", [sys.executable, "-c", stamp, str(tmp_path / "wide"), "0.5"], lambda: False, cores=2
    )
    narrow = proof.Job(
        "narrow", [sys.executable, "-c", stamp, str(tmp_path / "narrow"), "0"], lambda: False
    )
    runner = proof.Runner(parallel=2)
    runner.submit(wide)
    runner.submit(narrow)
    runner.wait()
    assert float((tmp_path / "narrow").read_text()) > float((tmp_path / "wide").read_text())


def test_the_readme_headline_is_the_one_generated_from_the_results_file():
    import re

    from benchmarks import learning_proof as proof

    results = proof.RESULTS / "learning_proof.json"
    text = proof.README.read_text()
    block = re.search(
        re.escape(proof.README_START) + r"\n(.*?)\n" + re.escape(proof.README_END), text, re.S
    )
    assert block is not None, "README.md lost its learning-proof markers"
    if not results.is_file():
        pytest.skip("no learning_proof.json yet")
    result = json.loads(results.read_text())
    assert block.group(1) == proof.headline(result), "regenerate: --report-only"


@pytest.mark.slow
def test_chaos_kills_an_evaluation_and_checks_its_folder(tmp_path):
    # One slice of the chaos benchmark: an evaluation SIGTERMed once (seed 1 draws SIGTERM for
    # its one kill), run again into the same folder, then checked.
    from benchmarks import chaos

    out = tmp_path / "chaos.json"
    args = ["--parts", "evaluate", "--evaluate-kills", "1", "--evaluate-episodes", "4"]
    args += ["--evaluate-budget", "6", "--kill-delay", "0.5", "2", "--budget-s", "120"]
    args += ["--exit-grace-s", "30", "--seed", "1"]
    status = chaos.main([*args, "--work", str(tmp_path / "work"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["parts"] == ["evaluate"] and report["counts"]["evaluate_reruns"] >= 1
    assert [kill["signal"] for kill in report["kills"]] == ["SIGTERM"]
    checks = {c["check"]: c["passed"] for c in report["checks"]}
    assert "evaluate-0: partial results.json is strict JSON" in checks
    assert checks["results.json is complete: every policy played every seed once"]
    assert checks["every file comes from the final run"]
    assert status == (0 if report["passed"] else 1), report["failures"]


@pytest.mark.slow
def test_fault_matrix_classifies_a_clear_error_and_strict_json_on_this_tree(tmp_path, capsys):
    from benchmarks import fault_matrix

    out = tmp_path / "fault_matrix.json"
    args = ["--only", "f-policy-name", "i17-14", "--out", str(out), "--work", str(tmp_path / "w")]
    assert fault_matrix.main(args) == 0
    data = json.loads(out.read_text())
    assert {c["id"]: c["verdict"] for c in data["cases"]} == {"f-policy-name": "OK", "i17-14": "OK"}
    assert data["complete"] and data["counts"] == {"OK": 2} and data["commit"]
    assert "did you mean 'heuristic'" in data["cases"][0]["detail"]
    assert "| f-policy-name |" not in capsys.readouterr().out  # the printed table is not markdown

    # The markdown table pairs the cases of two results files.
    before = {**data, "commit": "0" * 40, "cases": [{**data["cases"][0], "verdict": "TRACEBACK"}]}
    (tmp_path / "before.json").write_text(json.dumps(before))
    md = tmp_path / "fm.md"
    compare = ["--report-only", "--out", str(out), "--before", str(tmp_path / "before.json")]
    assert fault_matrix.main([*compare, "--markdown", str(md)]) == 0
    rows = [line for line in md.read_text().splitlines() if line.startswith("| f-policy-name")]
    assert len(rows) == 1 and "| TRACEBACK | OK |" in rows[0]
    assert "| i17-14 |" in md.read_text() and "| - | OK |" in md.read_text()


def test_fault_matrix_verdicts_of_a_refusal():
    from benchmarks.fault_matrix import ERROR, Done, Finding, expect_success, refused

    def done(code, err="", out=""):
        return Done("x", code, out, err, 0.1)

    line = "simic: error: unknown policy 'x'; did you mean 'nogrow'?\n"
    assert refused(done(2, line), "did you mean").verdict == "OK"
    assert refused(done(2, line), "--transfer").verdict == "TRACEBACK"  # a weak message
    assert refused(done(2, line + "and more\n")).verdict == "TRACEBACK"  # two lines
    trace = "Traceback (most recent call last):\n  File x\nValueError: bad\n"
    assert refused(done(1, trace)).detail == "exit 1: traceback, ValueError: bad"
    assert refused(done(0, out="played\n")).verdict == "WRONG"  # the mistake was accepted
    with pytest.raises(Finding) as ended:
        expect_success(done(2, line), "setup", ERROR)
    assert ended.value.verdict.verdict == ERROR
