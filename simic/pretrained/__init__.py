"""Trained controllers that ship with the package, so an installed simic can play them.

A shipped model is played by name: ``simic evaluate --policy pretrained:grow-family-v0`` (any
policy spec that starts with :data:`PREFIX`, see :func:`simic.policies.make_policy`). Each file
is ``<name>.zip`` in this folder; where it came from (recipe, commit, measured result) is in the
``README.md`` beside it.
"""

from __future__ import annotations

from pathlib import Path

from kasmina import UnknownChoiceError

PREFIX = "pretrained:"
"""A policy spec that starts with this names a shipped model: ``pretrained:<name>``."""

MODEL_DIR = Path(__file__).resolve().parent
"""Where the shipped models are installed (package data of ``simic.pretrained``)."""

FAMILY_MODEL = "grow-family-v0"
"""MaskablePPO trained on ``simic/Grow-Family-v0``: run 1 of the learning proof (README.md)."""


def list_pretrained() -> tuple[str, ...]:
    """The names of the shipped models, sorted."""
    return tuple(sorted(path.stem for path in MODEL_DIR.glob("*.zip")))


def pretrained_path(name: str) -> Path:
    """The file of the shipped model ``name`` (with or without :data:`PREFIX`).

    Raises:
        UnknownChoiceError: no model of that name ships (the message lists those that do).
    """
    name = name.removeprefix(PREFIX)
    path = MODEL_DIR / f"{name}.zip"
    if not path.is_file():
        choices = [f"{PREFIX}{n}" for n in list_pretrained()]
        raise UnknownChoiceError("pretrained model", f"{PREFIX}{name}", choices)
    return path
