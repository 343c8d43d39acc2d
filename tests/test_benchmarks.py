"""Benchmarks stay runnable (smoke runs with tiny sizes; their numbers are not asserted here)."""

import json

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
