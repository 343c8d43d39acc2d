"""benchmarks.common.episode_log: what was played comes back; a cut line is played again."""

from __future__ import annotations

import json

from benchmarks.common.episode_log import play_logged, read_log


def _square(job: int) -> dict:
    return {"key": str(job), "value": job * job}


def test_rows_are_appended_as_played_and_read_back(tmp_path) -> None:
    path = tmp_path / "deep" / "log.jsonl"
    assert read_log(path) == {}
    rows = list(play_logged(_square, [1, 2, 3], 1, path))
    assert [r["value"] for r in rows] == [1, 4, 9]
    assert read_log(path) == {r["key"]: r for r in rows}


def test_a_line_cut_by_an_interruption_is_skipped(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"key": "a", "value": 1}) + '\n{"key": "b", "va\n[1, 2]\n')
    assert list(read_log(path)) == ["a"]


def test_worker_processes_play_every_job(tmp_path) -> None:
    rows = list(play_logged(_square, list(range(6)), 2, tmp_path / "log.jsonl"))
    assert sorted(r["value"] for r in rows) == [0, 1, 4, 9, 16, 25]
