"""The fault matrix: two of its cases run for real on this tree, and how verdicts are given."""

import json

import pytest

from benchmarks import fault_matrix
from benchmarks.fault_matrix import ERROR, Done, Finding, expect_success, refused


@pytest.mark.slow
def test_fault_matrix_classifies_a_clear_error_and_strict_json_on_this_tree(tmp_path, capsys):
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
