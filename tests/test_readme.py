"""The README's code example runs as written (docs that drift from the code are worse than none)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_leaves_global_rng_alone(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    state = torch.get_rng_state()
    exec(compile(blocks[0], str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "{'block0': 8, 'block1': 16}" in out
    assert "TRAINING -> BLENDING" in out and "ParamCounts(" in out
    assert torch.equal(torch.get_rng_state(), state)


def test_readme_quick_start_has_the_two_commands_ci_uses():
    text = README.read_text()
    assert "make quickstart" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_observation_table_is_the_default_envs_layout():
    import envs

    assert envs.GrowthEnv("mnist1d").layout.table() in README.read_text()


def test_readme_environment_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "simic/Grow-MNIST1D-v0" in b)
    exec(compile(example.replace("budget=25", "budget=2"), str(README), "exec"), {})


@pytest.mark.slow
def test_readme_module_prefixed_id_works_in_a_process_that_never_imported_envs():
    # The README's advice for Ray workers and the like, run exactly as written, in a fresh
    # interpreter where nothing has imported envs (so nothing has registered the ids).
    calls = re.findall(r'`(gymnasium\.make\("envs:simic/[^`]*"\))`', README.read_text())
    assert calls == ['gymnasium.make("envs:simic/Grow-Digits-v0")']
    script = "\n".join(
        [
            "import sys",
            "import gymnasium",
            "assert 'envs' not in sys.modules",
            f"env = {calls[0]}",
            "obs, info = env.reset(seed=0)",
            "obs, reward, terminated, truncated, info = env.step(0)",
            "assert env.observation_space.contains(obs) and info['step'] == 1",
            "print(sys.modules['envs'].__file__)",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=README.parent,  # this checkout's packages come first on sys.path
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(README.parent / "envs" / "__init__.py")


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks())))
@pytest.mark.slow
def test_every_python_block_in_the_readme_runs(index, tmp_path):
    # Each block in a fresh interpreter, as a reader would paste it: registrations a block makes
    # (a blueprint, a policy) cannot leak into the other tests. Episodes are shortened. The
    # "Grow your own model" module is saved as the reader would save it, so that the blocks
    # using it import it.
    block = _python_blocks()[index].replace("budget=25", "budget=2")
    module = re.search(
        r"<!-- user-module: (\S+) -->\n```python\n(.*?)```", README.read_text(), re.S
    )
    assert module, "README lost its user-module block"
    (tmp_path / module.group(1)).write_text(module.group(2))
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=README.parent,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, f"README python block {index}:\n{block}\n{result.stderr}"
