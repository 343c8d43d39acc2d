"""Fixtures of the benchmark tests (no helpers module: each test module builds its own inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.learning_proof import layout


@pytest.fixture
def proof_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every folder and file the learning proof writes, moved under ``tmp_path/results``.

    ``tmp_path/README.md`` stands in for the project's README, with the proof's markers, so a
    test can run the proof's report without touching the committed results or README.
    """
    results = tmp_path / "results"
    folders = {"RUNS": "proof_runs", "EVALS": "proof_eval", "MODELS": "models"}
    folders |= {"LOGS": "proof_logs", "ATTEMPTS": "attempts"}
    monkeypatch.setattr(layout, "RESULTS", results)
    for name, folder in folders.items():
        monkeypatch.setattr(layout, name, results / folder)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{layout.README_START}\nold\n{layout.README_END}\nrest\n")
    monkeypatch.setattr(layout, "README", readme)
    return tmp_path
