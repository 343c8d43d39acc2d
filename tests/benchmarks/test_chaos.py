"""The chaos benchmark: one slice of it, run for real on this tree."""

import json

import pytest

from benchmarks import chaos


@pytest.mark.slow
def test_chaos_kills_an_evaluation_and_checks_its_folder(tmp_path):
    # One slice of the chaos benchmark: an evaluation SIGTERMed once (seed 1 draws SIGTERM for
    # its one kill), run again into the same folder, then checked.
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
