"""``simic sweep``: its config's checks (no Ray needed), and a tiny sweep on a local Ray that is
stopped after one trial and resumed without running that trial again."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.common.runs import TINY_SWEEP
from kasmina import UserError
from simic.cli import main
from simic.common.envutil import load_config_file
from simic.common.stats import MeanCI
from simic.sweep.config import SweepConfig
from simic.sweep.results import BASELINE, PENDING, TRIAL, SweepRow, format_table
from simic.sweep.trials import train_and_evaluate
from simic.sweep.tune import STATE_FILE, check_storage, run_sweep

try:  # the Ray tests skip without Ray; the callback below exists only with it
    from ray import tune
except ImportError:
    tune = None


def _with(**changes):
    return {**TINY_SWEEP, **changes}


# ----------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "data, message",
    [
        (_with(serach={}), "did you mean 'search'"),
        (_with(learning_rate=1e-3), "did you mean 'ppo.learning_rate'"),
        (_with(out="runs/x"), "own folder under the sweep's storage folder"),
        (_with(seed=3), "seeds: [0, 1, 2]"),
        (_with(seeds=[0, 0]), "seeds lists a seed twice"),
        (_with(seeds=[]), "seeds must be a non-empty list"),
        (_with(search={"ppo.learning_rat": {"grid": [1e-3]}}), "did you mean 'ppo.learning_rate'"),
        (_with(search={"ppo": {"grid": [{}]}}), "(search the section's entries, e.g. ppo"),
        (_with(search={"env": {"grid": ["simic/Grow-Digits-v0"]}}), "compares runs on one env"),
        (_with(search={"seed": {"grid": [1, 2]}}), "seeds: [0, 1, 2]"),
        (_with(search={"ppo.ent_coef": [0.0, 0.01]}), "must be one of {grid: [...]}"),
        (_with(search={"ppo.ent_coef": {"grdi": [0.0]}}), "did you mean 'grid'"),
        (_with(search={"ppo.ent_coef": {"grid": []}}), "needs at least one value"),
        (_with(search={"ppo.ent_coef": {"grid": 0.1}}), "grid takes a list"),
        (_with(search={"ppo.gamma": {"uniform": [1.0, 0.5]}}), "needs low < high"),
        (_with(search={"ppo.learning_rate": {"loguniform": [0, 1]}}), "needs low > 0"),
        (_with(search={"ppo.learning_rate": {"grid": ["1e-4"]}}), "must be a finite number"),
        (_with(search={"env_kwargs.budgte": {"grid": [4]}}), "did you mean 'budget'"),
        # Every combination is checked (17 steps in minibatches of 16 leave one sample).
        (_with(search={"ppo.n_steps": {"grid": [16, 17]}}), "ppo.n_steps=17: ppo.n_steps 17"),
        # A range draws floats: an int setting cannot be searched with one.
        (_with(search={"ppo.n_steps": {"uniform": [16, 32]}}), "must be an int >= 1, got 24.0"),
        (_with(samples=2), "no search dimension is random"),
        (_with(evaluation={"baselines": ["heuristc"]}), "did you mean 'heuristic'"),
        (_with(evaluation={"baselines": ["nogrow", "nogrow"]}), "lists a policy twice"),
        (_with(evaluation={"baselines": "nogrow"}), "must be a list"),
        (_with(evaluation={"episode": 2}), "did you mean 'episodes'"),
        (_with(evaluation={"episodes": 0}), "evaluation.episodes must be an int >= 1"),
        (_with(evaluation={"seed": 10**9}), "below 10**9"),
        (_with(resources={"cpus": 1}), "did you mean 'cpu'"),
        (_with(resources={"cpu": 0}), "resources.cpu must be a finite number > 0"),
        (_with(max_concurrent_trials=-1), "max_concurrent_trials must be an int >= 0"),
    ],
)
def test_config_mistakes_are_one_line_errors(data, message):
    with pytest.raises(UserError) as caught:
        SweepConfig.from_mapping(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_search_space_and_each_trials_training_run():
    config = SweepConfig.from_mapping(
        _with(
            seeds=[0, 1],
            search={
                "ppo.ent_coef": {"grid": [0.0, 0.01]},
                "ppo.gae_lambda": {"uniform": [0.9, 1.0]},
                "env_kwargs.param_rent": {"choice": [0.0, 0.1]},
            },
            samples=3,
        )
    )
    assert [d.path for d in config.dimensions] == [
        "seed",
        "ppo.ent_coef",
        "ppo.gae_lambda",
        "env_kwargs.param_rent",
    ]
    assert config.trial_count == 3 * 2 * 2  # samples x seeds x ent_coef grid
    params = {"seed": 1, "ppo": {"ent_coef": 0.01}, "env_kwargs": {"param_rent": 0.1}}
    run = config.trial_config(params, out="/storage/trial_x/run")
    assert (run.seed, run.ppo.ent_coef, run.ppo.n_steps) == (1, 0.01, 16)
    assert run.env_kwargs == {"budget": 4, "batches_per_step": 1, "param_rent": 0.1}
    assert (run.out, run.progress_bar) == ("/storage/trial_x/run", False)
    # What sweep_config.json records reads back as the same sweep.
    assert SweepConfig.from_mapping(json.loads(json.dumps(config.to_dict()))) == config


def test_the_example_config_is_a_valid_sweep():
    example = Path(__file__).resolve().parents[3] / "benchmarks/configs/sweep_example.yaml"
    config = SweepConfig.from_mapping(load_config_file(example))
    assert config.trial_count == 12 and config.resources.cpu == 1


def test_a_sweep_folder_is_new_or_resumed_with_its_own_config(tmp_path):
    config = SweepConfig.from_mapping(TINY_SWEEP)
    with pytest.raises(UserError, match="holds no sweep to resume"):
        check_storage(tmp_path, config, resume=True)
    (tmp_path / STATE_FILE).write_text(json.dumps(config.to_dict()))
    check_storage(tmp_path, config, resume=True)
    with pytest.raises(UserError, match="already holds a sweep; continue it with --resume"):
        check_storage(tmp_path, config, resume=False)
    changed = SweepConfig.from_mapping(_with(timesteps=64))
    with pytest.raises(UserError, match=r"differs from the sweep recorded .* in timesteps"):
        check_storage(tmp_path, changed, resume=True)


def test_the_table_has_a_row_per_trial_and_per_baseline():
    ci = MeanCI(0.5, 0.1, 2)
    rows = [
        SweepRow("trial_a_00000", TRIAL, "done", {"seed": 0, "ppo.ent_coef": 0.0}, ci, ci),
        SweepRow("trial_a_00001", TRIAL, PENDING, {"seed": 0, "ppo.ent_coef": 0.01}),
        SweepRow("nogrow", BASELINE, "done", {}, ci, ci),
    ]
    lines = format_table(rows, ["seed", "ppo.ent_coef"]).splitlines()
    header = ["run", "seed", "ppo.ent_coef", "return", "test", "accuracy", "%", "status"]
    assert lines[0].split() == header
    done = ["trial_a_00000", "0", "0.0", "0.500", "±", "0.100", "50.0", "±", "10.0", "done"]
    assert lines[2].split() == done
    assert lines[3].split()[-3:] == ["-", "-", "pending"]
    assert lines[4].startswith("nogrow (baseline)") and lines[4].split()[2:4] == ["-", "-"]


def test_a_trial_continues_the_run_its_killed_attempt_left(tmp_path):
    # What a trial does (without Ray): a second attempt finds the run, releases the lock its
    # killed predecessor left, and continues the run instead of training it again.
    sweep = SweepConfig.from_mapping(TINY_SWEEP)
    config = sweep.trial_config({"seed": 0}, out=str(tmp_path / "run"))
    log = []
    first = train_and_evaluate(config, sweep, tmp_path, log.append)
    assert first["timesteps"] == 32 and first["return_n"] == first["test_accuracy_n"] == 2
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    lock = {"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0.0}
    (tmp_path / "run" / ".lock").write_text(json.dumps(lock))
    second = train_and_evaluate(config, sweep, tmp_path, log.append)
    assert second == first  # the same model, evaluated on the same seeds
    assert sum("training MaskablePPO" in line for line in log) == 1
    assert any("nothing to do" in line for line in log)
    assert not (tmp_path / "run" / ".lock").exists()
    assert (tmp_path / "evaluation" / "results.json").is_file()


def test_a_bad_config_file_is_one_line_and_exit_status_2(tmp_path, capsys):
    file = tmp_path / "sweep.yaml"
    file.write_text("env: simic/Grow-MNIST1D-v0\nsearch: {ppo.ent_coef: {grdi: [0.0]}}\n")
    assert main(["sweep", str(file), "--storage", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simic: error: unknown search kind 'grdi'") and err.count("\n") == 1
    assert not (tmp_path / "store").exists()


def test_without_ray_the_command_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    file = tmp_path / "sweep.json"
    file.write_text(json.dumps(TINY_SWEEP))
    assert main(["sweep", str(file), "--storage", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "simic: error: simic sweep needs Ray, which is not installed: "
        "pip install 'simic-growth[ray]'\n"
    )
    assert not (tmp_path / "store").exists()


# ----------------------------------------------------------------------------------- Ray
if tune is not None:

    class StopAfterFirstTrial(tune.Callback):
        """Presses Ctrl-C once, as the first trial finishes: Tune's own SIGINT handler then
        stops the sweep and saves its state, as it does for a person at the keyboard.

        At module level because Tune pickles its callbacks into the experiment state (and
        unpickles them on resume, where ``fired`` keeps it from stopping the sweep again).
        """

        fired = False

        def on_trial_complete(self, iteration, trials, trial, **info):
            if StopAfterFirstTrial.fired:
                return
            StopAfterFirstTrial.fired = True
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def stopped_then_resumed(local_ray, tmp_path_factory):
    """A 2-trial sweep, one trial at a time, stopped as its first trial finishes, then resumed:
    both reports, the lines each call printed, and what the first call left (its sweep.json,
    the modification time of each finished trial's model)."""
    storage = tmp_path_factory.mktemp("sweep") / "store"
    config = SweepConfig.from_mapping(_with(max_concurrent_trials=1))
    first_lines, second_lines = [], []
    first = run_sweep(config, storage, out=first_lines.append, callbacks=[StopAfterFirstTrial()])
    first_json = json.loads((storage / "sweep.json").read_text())
    mtimes = {
        row.name: (storage / row.name / "run" / "model.zip").stat().st_mtime_ns
        for row in first.rows
        if row.status == "done"
    }
    second = run_sweep(config, storage, resume=True, out=second_lines.append)
    return SimpleNamespace(
        storage=storage,
        first=first,
        second=second,
        first_lines=first_lines,
        second_lines=second_lines,
        first_json=first_json,
        mtimes=mtimes,
    )


def test_a_stopped_sweep_reports_the_trial_that_finished(stopped_then_resumed):
    run = stopped_then_resumed
    assert not run.first.complete and run.first.exit_status == 130
    done = [row for row in run.first.rows if row.status == "done"]
    assert [row.kind for row in done] == [TRIAL] and list(run.mtimes) == [done[0].name]
    last = run.first_lines[-1]
    assert "sweep stopped with 1 of 2 trials finished" in last and "--resume" in last
    # No baselines yet (they are evaluated once every trial has finished).
    assert run.first_json["partial"] is True
    assert [row["name"] for row in run.first_json["rows"] if row["status"] == "done"] == [
        done[0].name
    ]


def test_resuming_runs_only_the_unfinished_trial(stopped_then_resumed):
    run = stopped_then_resumed
    storage, second, mtimes = run.storage, run.second, run.mtimes
    assert second.complete and second.exit_status == 0
    assert run.second_lines[0].startswith("resuming a sweep of 2 trials")
    (finished,) = mtimes
    trials = [row for row in second.rows if row.kind == TRIAL]
    assert [row.status for row in trials] == ["done", "done"]
    assert finished in [row.name for row in trials]
    # The finished trial's training ran once: its model was not rewritten, its log not added to.
    assert (storage / finished / "run" / "model.zip").stat().st_mtime_ns == mtimes[finished]
    log = (storage / finished / "trial.log").read_text()
    assert log.count("training MaskablePPO") == 1
    (other,) = [row.name for row in trials if row.name != finished]
    assert (storage / other / "run" / "model.zip").is_file()


def test_the_finished_sweep_prints_one_table_and_writes_its_files(stopped_then_resumed):
    storage, second, lines = (
        stopped_then_resumed.storage,
        stopped_then_resumed.second,
        stopped_then_resumed.second_lines,
    )
    text = "\n".join(lines)
    lines = text.splitlines()  # the table is printed at once
    header = next(line for line in lines if line.startswith("run "))
    assert header.split()[:3] == ["run", "seed", "ppo.ent_coef"]
    assert text.count("(baseline)") == 1 and "nogrow (baseline)" in text
    assert sum(line.startswith("trial_") for line in lines) == 2
    data = json.loads((storage / "sweep.json").read_text())
    assert data["partial"] is False and data["settings"] == ["seed", "ppo.ent_coef"]
    assert [row["kind"] for row in data["rows"]] == [TRIAL, TRIAL, BASELINE]
    for row in data["rows"]:
        assert row["return"]["n"] == 2 and row["test_accuracy"]["n"] == 2
    assert sorted(row["settings"].get("ppo.ent_coef") for row in data["rows"][:2]) == [0.0, 0.01]
    assert data["best"] in [row["name"] for row in data["rows"][:2]]
    csv_lines = (storage / "sweep.csv").read_text().splitlines()
    assert csv_lines[0].startswith("name,kind,status,seed,ppo.ent_coef,return_mean")
    assert len(csv_lines) == 4
    assert (storage / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (storage / "baselines" / "results.json").is_file()
    assert {f.name for f in second.files} == {"sweep.json", "sweep.csv", "sweep.png"}
