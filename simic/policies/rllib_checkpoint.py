"""The RLlib part of a run folder: checkpoint and model folders, replaced without a gap.

An RLlib run (``simic train --engine rllib``) keeps, beside the files every run has::

    RUN/checkpoints/latest/   the Algorithm checkpoint (``algo.save_to_path``): resumes the run
    RUN/model/                the final RLModule (what ``simic evaluate --policy RUN`` plays)
    RUN/best_model/           the RLModule with the best held-out mean return so far

Each folder also holds ``simic_env.json``, the environment it was trained on
(:mod:`simic.common.provenance`). A folder is written in full under a temporary name and only then
renamed into place (:func:`replace_folder`); the previous one is moved aside first and deleted
last, and :func:`recover` (run when the folder is claimed again) puts it back if a crash fell
between the two renames, so an interrupted save never costs the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from envs.atomic import atomic_write_text
from simic.common.provenance import EnvSignature

CHECKPOINT_DIR = "checkpoints/latest"
MODEL_DIR = "model"
BEST_DIR = "best_model"
FOLDERS = (CHECKPOINT_DIR, MODEL_DIR, BEST_DIR)
SIGNATURE_FILE = "simic_env.json"
RUN_IDENTITY_FILE = "simic_run.json"
"""In a checkpoint: the identity of the run that made it (checked when the run is resumed)."""
MODULE_PATH = "learner_group/learner/rl_module/default_policy"
"""Where the (default, single-agent) RLModule lies inside an Algorithm checkpoint."""
ALGORITHM_MARK = "rllib_checkpoint.json"
MODULE_MARK = "module_state.pkl"


# ----------------------------------------------------------------------------------- writing
def replace_folder(target: Path, fill: Callable[[Path], None]) -> Path:
    """Make ``target`` anew: ``fill`` a temporary folder beside it, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    tmp = target.parent / f".{target.name}.{tag}.tmp"
    old = target.parent / f".{target.name}.{tag}.old"
    try:
        tmp.mkdir()
        fill(tmp)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return target


def recover(run: Path) -> None:
    """Finish or undo what a crash left of :func:`replace_folder` in ``run`` (folder claimed).

    A folder moved aside whose replacement never arrived is put back; half-written temporary
    folders and leftovers of finished swaps are deleted.
    """
    for relative in FOLDERS:
        target = run / relative
        if not target.parent.is_dir():
            continue
        for old in sorted(target.parent.glob(f".{target.name}.*.old")):
            if not target.exists():
                os.replace(old, target)
            else:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in target.parent.glob(f".{target.name}.*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)


def write_signature(folder: Path, signature: EnvSignature) -> None:
    atomic_write_text(folder / SIGNATURE_FILE, json.dumps(signature.to_dict(), indent=1))


def save_checkpoint(
    algo: object, run: Path, signature: EnvSignature, identity: Mapping[str, Any]
) -> Path:
    """``algo.save_to_path`` into ``RUN/checkpoints/latest``, replacing it without a gap.

    Beside it: the env's ``signature`` and the run's ``identity``
    (:meth:`simic.training.config.TrainConfig.identity`).
    """

    def fill(folder: Path) -> None:
        algo.save_to_path(str(folder))  # type: ignore[attr-defined]
        write_signature(folder, signature)
        atomic_write_text(folder / RUN_IDENTITY_FILE, json.dumps(dict(identity), indent=1))

    return replace_folder(run / CHECKPOINT_DIR, fill)


def copy_module(checkpoint: Path, target: Path) -> Path:
    """The RLModule of Algorithm ``checkpoint`` (and its signature) as the folder ``target``."""

    def fill(folder: Path) -> None:
        shutil.copytree(checkpoint / MODULE_PATH, folder, dirs_exist_ok=True)
        if (checkpoint / SIGNATURE_FILE).is_file():
            shutil.copy2(checkpoint / SIGNATURE_FILE, folder / SIGNATURE_FILE)

    return replace_folder(target, fill)


def has_checkpoint(run: Path) -> bool:
    return (run / CHECKPOINT_DIR / ALGORITHM_MARK).is_file()


# ----------------------------------------------------------------------------------- reading
def module_folder(path: Path) -> Path | None:
    """The RLModule folder that ``path`` means, or ``None`` if it holds none.

    ``path`` may be a run folder (its final model, else its latest checkpoint), an Algorithm
    checkpoint, or an RLModule folder.
    """
    if (path / MODULE_MARK).is_file():
        return path
    if (path / ALGORITHM_MARK).is_file():
        module = path / MODULE_PATH
        return module if (module / MODULE_MARK).is_file() else None
    for inside in (MODEL_DIR, CHECKPOINT_DIR):
        if (path / inside).is_dir() and (found := module_folder(path / inside)) is not None:
            return found
    return None


def signature_of(module: Path) -> EnvSignature | None:
    """The environment the module in folder ``module`` was trained on (``None``: unrecorded)."""
    depth = len(Path(MODULE_PATH).parts)
    checkpoint = module.parents[depth - 1] if len(module.parents) >= depth else None
    inside = checkpoint is not None and (checkpoint / ALGORITHM_MARK).is_file()
    file = (checkpoint if inside else module) / SIGNATURE_FILE  # type: ignore[operator]
    try:
        return EnvSignature.from_dict(json.loads(file.read_text())) if file.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def identity_of(checkpoint: Path) -> dict[str, Any] | None:
    """The run identity saved with an Algorithm checkpoint (``None``: saved before it was)."""
    file = checkpoint / RUN_IDENTITY_FILE
    try:
        return dict(json.loads(file.read_text())) if file.is_file() else None
    except (OSError, ValueError, TypeError):
        return None
