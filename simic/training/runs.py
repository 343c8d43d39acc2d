"""A training run's folder as both engines keep it (:mod:`~simic.training.sb3` and
:mod:`~simic.training.rllib`): what a run returns, its recorded config, whether a folder may be
(re)used, and the evaluations it recorded.

The file names are :mod:`simic.common.runfolder`'s; the models in it are each engine's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from simic.common.errors import SimicError
from simic.common.runfolder import CHECKPOINT_FILE, CONFIG_FILE, EVALUATIONS_FILE
from simic.training.config import TrainConfig


@dataclass(frozen=True)
class TrainResult:
    """What a call of :func:`train` did."""

    run: Path
    timesteps: int
    interrupted: bool
    exit_status: int = 0
    """0 when training finished, 130 after Ctrl-C (SIGINT), 143 after SIGTERM."""


def load_run_config(run: Path) -> TrainConfig:
    """The resolved config of an existing run folder (a clear error if there is none)."""
    file = run / CONFIG_FILE
    if not file.is_file():
        raise SimicError(
            f"{run} holds no training run (no {CONFIG_FILE}); start one with "
            f"'simic train --out {run}'"
        )
    try:
        return TrainConfig.from_mapping(json.loads(file.read_text()))
    except json.JSONDecodeError as exc:
        raise SimicError(f"{file} is corrupt ({exc}); the run cannot be resumed") from None


def check_run_folder(run: Path, resume: bool, checkpoint: str = CHECKPOINT_FILE) -> bool:
    """Whether training continues a checkpoint; called while the folder is claimed.

    A fresh run refuses a folder that already holds one; ``checkpoint`` is the file (relative to
    the run) whose presence means there is a checkpoint to continue.
    """
    if not resume:
        if (run / CONFIG_FILE).exists():
            raise SimicError(
                f"{run} already holds a training run; continue it with "
                f"'simic train --resume {run} --timesteps N' or choose another --out"
            )
        return False
    return (run / checkpoint).is_file()


def previous_evaluations(run: Path) -> list[dict[str, float]]:
    """The evaluations a run recorded so far (none if its file is missing or corrupt)."""
    file = run / EVALUATIONS_FILE
    try:
        return list(json.loads(file.read_text())) if file.is_file() else []
    except (OSError, json.JSONDecodeError):
        return []  # a corrupt history is not worth refusing to resume for
