"""The measurement benchmarks stay runnable (smoke runs with tiny sizes; their numbers are not
asserted here)."""

import json

import pytest

from benchmarks import batched_envs, checkpoint_memory, env_overhead, step_cost


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


@pytest.mark.slow
def test_vector_throughput_profiles_a_batched_step(tmp_path):
    from benchmarks import vector_throughput

    argv = ["--profile-only", "--steps", "1", "--budget", "6", "--out", str(tmp_path)]
    vector_throughput.main(argv)
    report = json.loads((tmp_path / "vector_throughput_profile.json").read_text())
    profiles = report["profile"]
    assert [p["n"] for p in profiles] == list(vector_throughput.PROFILE_SIZES)
    for profile in profiles:
        parts = profile["ms_per_batched_step"]
        assert list(parts) == [label for label, _, _ in vector_throughput.PROFILE_PARTS]
        step, training = parts["batched step"], parts["training batches"]
        assert 0 < training < step and 0 < parts["validation and counterfactuals"] < step
        assert parts["- backward"] > 0 and parts["- optimizer (foreach Adam)"] > 0
        shares = profile["top_ops"]
        assert len(shares) == vector_throughput.TOP_OPS and 0 < sum(shares.values()) <= 1
        assert any("conv" in op for op in shares)  # the CNN's kernels are among the costliest
    text = (tmp_path / "vector_throughput_profile.md").read_text()
    assert text.count("| batched step |") == len(profiles) and "| torch operator" in text
