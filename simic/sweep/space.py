"""A sweep's search space: which settings ``search:`` may name, and each dimension, checked.

``search: {PATH: {KIND: VALUES}}``, with PATH a :class:`~simic.training.TrainConfig` setting
(``ppo.<name>`` for PPO's, ``env_kwargs.<name>`` for the env's) and KIND one of :data:`KINDS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasmina.errors import UnknownChoiceError
from kasmina.validation import is_number
from simic.common.errors import SimicError
from simic.training.config import PPOConfig, TrainConfig

GRID, CHOICE, UNIFORM, LOGUNIFORM = "grid", "choice", "uniform", "loguniform"
KINDS = (GRID, CHOICE, UNIFORM, LOGUNIFORM)
RANDOM_KINDS = (CHOICE, UNIFORM, LOGUNIFORM)
SPEC_FORMS = "{grid: [...]}, {choice: [...]}, {uniform: [low, high]} or {loguniform: [low, high]}"

EXCLUDED = {
    "out": "every trial trains in its own folder under the sweep's storage folder (--storage)",
    "seed": "training seeds are a dimension of the search: write seeds: [0, 1, 2]",
    "progress_bar": "trials write their progress to TRIAL/trial.log",
}
"""TrainConfig keys a sweep config may not set, and why (the one-line error)."""
SECTIONS = ("ppo", "env_kwargs")  # searched as ppo.<name> / env_kwargs.<name>, never whole


def train_keys() -> list[str]:
    """The TrainConfig keys a sweep config may set."""
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in EXCLUDED]


def searchable() -> list[str]:
    """The settings ``search:`` accepts by name (plus ``env_kwargs.<any kwarg>``).

    Not ``env``: trials and baselines are compared on one environment (its kwargs may vary).
    """
    top = [k for k in train_keys() if k not in (*SECTIONS, "env")]
    return top + [f"ppo.{f.name}" for f in dataclasses.fields(PPOConfig)]


@dataclass(frozen=True)
class SearchDimension:
    """One searched setting: its dotted path, the kind of search and its values."""

    path: str
    kind: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        where = f"search.{self.path}"
        if self.kind not in KINDS:
            raise UnknownChoiceError("search kind", self.kind, KINDS, context=f"in {where}")
        if self.kind in (GRID, CHOICE) and not self.values:
            raise SimicError(f"{where}: {self.kind} needs at least one value")
        if self.kind in (UNIFORM, LOGUNIFORM):
            self._check_range(where)

    def _check_range(self, where: str) -> None:
        if len(self.values) != 2 or not all(is_number(v) for v in self.values):
            raise SimicError(
                f"{where}: {self.kind} takes [low, high], two numbers, got {list(self.values)}"
            )
        low, high = self.values
        if not low < high:
            raise SimicError(f"{where}: {self.kind} needs low < high, got [{low}, {high}]")
        if self.kind == LOGUNIFORM and low <= 0:
            raise SimicError(f"{where}: loguniform needs low > 0, got {low}")

    @property
    def checked_values(self) -> tuple[Any, ...]:
        """What is checked up front: every listed value, or a range's ends and a float between
        them (Tune draws floats from a range, which an int setting would refuse mid-sweep)."""
        if self.kind in (GRID, CHOICE):
            return self.values
        low, high = self.values
        return (low, (low + high) / 2.0, high)

    @property
    def size(self) -> int:
        """Trials per sample this dimension multiplies by (a random draw counts once)."""
        return len(self.values) if self.kind == GRID else 1

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.values)}


def parse_dimension(path: object, spec: object) -> SearchDimension:
    """``search:``'s entry ``path: {KIND: VALUES}``, checked, as a :class:`SearchDimension`."""
    if not isinstance(path, str) or not path:
        raise SimicError(f"search keys are dotted setting names (e.g. ppo.ent_coef), got {path!r}")
    _check_path(path)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise SimicError(f"search.{path} must be one of {SPEC_FORMS}, got {spec!r}")
    ((kind, values),) = spec.items()
    if kind not in KINDS:
        raise UnknownChoiceError("search kind", kind, KINDS, context=f"in search.{path}")
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise SimicError(f"search.{path}: {kind} takes a list, got {values!r}")
    return SearchDimension(path, str(kind), tuple(values))


def _check_path(path: str) -> None:
    head, _, name = path.partition(".")
    if head == "seed":
        raise SimicError(f"search.{path}: {EXCLUDED['seed']}")
    if head == "env_kwargs" and name and "." not in name:
        return  # the environment itself checks the name (with a did-you-mean), below
    if path == "env":
        raise SimicError("search.env: a sweep compares runs on one env; search env_kwargs.<name>")
    if path not in searchable():
        hint = "(search the section's entries, e.g. ppo.gamma)" if path in SECTIONS else ""
        choices = [*searchable(), "env_kwargs.<name>"]
        raise UnknownChoiceError("search setting", path, choices, context=hint)
