"""What the robustness benchmarks (``chaos``, ``fault_matrix``) and their tests read back from
simic's commands: strict JSON, a checkpoint's timesteps, a held run-folder lock, and the
smallest sweep that still runs every part of ``simic sweep`` (the process tree is
:mod:`benchmarks.common.procs`).

One owner for each, so the chaos benchmark, the fault matrix and the tests agree on what
"written", "held" and "left running" mean.
"""

from __future__ import annotations

import fcntl
import json
import zipfile
from pathlib import Path
from typing import Any

from simic.common.runfolder import LOCK_FILE

TINY_SWEEP: dict[str, Any] = {
    "env": "simic/Grow-MNIST1D-v0",
    "env_kwargs": {"budget": 4, "batches_per_step": 1},
    "timesteps": 32,
    "eval_every": 0,
    "checkpoint_every": 16,
    "ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
    "search": {"ppo.ent_coef": {"grid": [0.0, 0.01]}},
    "evaluation": {"episodes": 2, "baselines": ["nogrow"]},
}
"""Seconds per trial: 32 steps of 4-step episodes, one short PPO update, 2 evaluation episodes.
Callers override what they need (``{**TINY_SWEEP, "timesteps": 512}``)."""


# ----------------------------------------------------------------------------------- files
def strict_json(path: Path) -> Any:
    """``path`` parsed as JSON proper: NaN and Infinity (which Python writes) are refused."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def zip_data(path: Path) -> dict[str, Any]:
    """The JSON that stable-baselines3 keeps in a model zip (num_timesteps, seed, ppo settings),
    read without loading the model."""
    with zipfile.ZipFile(path) as archive:
        return dict(json.loads(archive.read("data")))


def checkpoint_timesteps(path: Path) -> int | None:
    """``num_timesteps`` of an SB3 model zip; ``None`` if there is no readable one."""
    try:
        return int(zip_data(path)["num_timesteps"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def lock_held(folder: Path) -> bool:
    """Whether a process holds ``folder``'s run-folder lock (a leftover file alone is not held)."""
    path = folder / LOCK_FILE
    if not path.exists():
        return False
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
