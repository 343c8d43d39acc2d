"""A researcher's own network and data, grown through the public API only (issue 21).

The README's "Grow your own model" module is written to a folder outside the package and used
from fresh interpreters, as a user would: ``check_env``, pickling, export and reload of a grown
network, ``simic evaluate`` with the heuristic and nogrow, a short ``simic train`` that is
resumed (subprocess envs: the children import the module from the id) and evaluated, and a
family that mixes a built-in task with the user's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENV = "my_growth:simic/Grow-Waves-v0"
FAMILY = "my_growth:simic/Grow-Mixed-v0"
SMALL_ENV = "--env-kwargs budget=5 batches_per_step=2"

pytestmark = pytest.mark.slow


def readme_module() -> str:
    """The code block that follows the README's ``user-module`` marker."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- user-module: my_growth.py -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its 'Grow your own model' module"
    return match.group(1)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_growth.py").write_text(readme_module())
    return folder


def run(folder: Path, *args: str, timeout: int = 240) -> str:
    """``args`` in a fresh interpreter whose working directory is the user's folder."""
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def simic(folder: Path, command: str) -> str:
    """``simic COMMAND`` (shell words) in a fresh interpreter in the user's folder."""
    main = "import sys; from simic.cli import main; sys.exit(main(sys.argv[1:]))"
    return run(folder, "-c", main, *shlex.split(command))


API_SCRIPT = """
import pickle, sys
import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env
from simic.evaluation.export import export_grown_model
from simic.policies import Schedule, SchedulePolicy, run_episode

env = gym.make("my_growth:simic/Grow-Waves-v0", budget=6, batches_per_step=2)
base = env.unwrapped
assert base.model is None
check_env(base, skip_render_check=True)
assert list(base.codec.blueprints) == ["conv_light", "attention", "pointwise"], base.codec
obs, _ = env.reset(seed=3)
assert base.model.host.injection_points() == {"block0": 8, "block1": 8}
twin = pickle.loads(pickle.dumps(base))
for a in (1, 0):  # the same actions on the env and its pickled twin: the same outcome
    o1, r1, *_ = base.step(a)
    o2, r2, *_ = twin.step(a)
    assert np.array_equal(o1, o2) and r1 == r2, (r1, r2)
policy = SchedulePolicy(env, Schedule.parse("block0:pointwise@0+block1:conv_light@0"))
result = run_episode(env, policy, seed=5)
stages = {k: v.stage.name for k, v in base.model.slots.items()}
assert "FOSSILIZED" in stages.values(), stages
export_grown_model(env, sys.argv[1])
print("API OK", sum(result.rewards))
"""

LOAD_SCRIPT = """
import sys
from simic.evaluation.export import evaluate_grown_model, load_grown_model
grown = load_grown_model(sys.argv[1])  # imports my_growth itself (the file names it)
assert "my_growth" in sys.modules
print("LOAD", grown.test_accuracy, evaluate_grown_model(grown))
"""


def test_env_api_pickle_and_export(user_dir: Path) -> None:
    path = user_dir / "grown.pt"
    assert "API OK" in run(user_dir, "-c", API_SCRIPT, str(path))
    line = run(user_dir, "-c", LOAD_SCRIPT, str(path)).split()
    assert line[0] == "LOAD" and float(line[1]) == float(line[2])


def evaluated(folder: Path, out: str, command: str) -> dict[str, list[dict]]:
    """``simic evaluate COMMAND --out OUT``: each policy's episodes, from OUT/results.json."""
    simic(folder, f"evaluate {command} --out {out}")
    results = json.loads((folder / out / "results.json").read_text())
    assert not results["partial"]
    return {p["policy"]: p["episodes"] for p in results["policies"]}


def test_evaluate_train_resume_and_family(user_dir: Path) -> None:
    # --n-envs 2: a pool of worker processes, each of which imports my_growth from the id.
    command = f"--env {ENV} {SMALL_ENV} --policy heuristic --policy nogrow --episodes 2 --n-envs 2"
    played = evaluated(user_dir, "eval", command)
    assert {k: len(v) for k, v in played.items()} == {"heuristic": 2, "nogrow": 2}
    ppo = "--n-steps 16 --batch-size 16 --n-epochs 1 --eval-every 0 --n-envs 2"
    simic(user_dir, f"train --env {ENV} {SMALL_ENV} {ppo} --timesteps 32 --out run")
    simic(user_dir, "train --resume run --timesteps 64")  # subprocess envs import my_growth
    played = evaluated(user_dir, "eval_ppo", f"--env {ENV} {SMALL_ENV} --policy run/model.zip")
    assert [len(v) for v in played.values()] == [10]
    command = f"--env {FAMILY} --env-kwargs budget=4 batches_per_step=1 --policy heuristic"
    played = evaluated(user_dir, "eval_family", f"{command} --episodes 4")
    instances = {e.get("instance") for e in played["heuristic"]}
    assert instances == {"mnist1d-w8x16-rent0.05", "waves-rent0.05"}, instances
