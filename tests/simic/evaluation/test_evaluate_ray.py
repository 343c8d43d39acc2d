"""``simic evaluate --ray``: episodes as Ray tasks give byte-for-byte the local numbers."""

from __future__ import annotations

import sys

import pytest

from simic.cli import main

TINY = ["--env-kwargs", "budget=3", "batches_per_step=1", "--episodes", "2", "--seed", "7"]


def test_without_ray_the_flag_fails_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["evaluate", "--ray", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "simic: error: simic evaluate --ray needs Ray, which is not installed: "
        "pip install 'simic-growth[ray]'"
    )


def test_ray_with_worker_processes_is_refused(capsys):
    assert main(["evaluate", "--ray", "--n-envs", "2", *TINY]) == 2
    assert "--ray plays episodes as Ray tasks" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_evaluation_equals_the_local_one_byte_for_byte(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    policies = ["--policy", "heuristic", "--policy", "random"]
    assert main(["evaluate", *policies, *TINY, "--out", str(tmp_path / "local")]) == 0
    assert main(["evaluate", *policies, *TINY, "--out", str(tmp_path / "ray"), "--ray"]) == 0
    for name in ("results.json", "episodes.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    import ray

    assert not ray.is_initialized()  # the command stopped the Ray it started
