"""Benchmarks stay runnable (smoke runs with tiny sizes; their numbers are not asserted here)."""

from benchmarks import checkpoint_memory, env_overhead


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
