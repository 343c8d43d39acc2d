"""Task families: the instances a growth controller must serve, one drawn per episode.

An :class:`Instance` is one growth task as the controller meets it: the task (its data), the
host's block widths and the parameter price (``param_rent``). A :class:`TaskFamily` is a set of
instances registered under one Gymnasium id; its environment (:class:`envs.FamilyGrowthEnv`)
draws one instance per ``reset`` and observes the price and the host's size (see
:class:`envs.observation.ContextView`). :data:`FAMILIES` is the one list of families: the
registration and the listings are derived from it, as they are from :data:`envs.TASKS`.

The best growth decision depends on the instance (``docs/learning-notes.md``): a family is where
a learned, context-aware controller can beat a fixed rule.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.config import as_widths
from envs.tasks import TASKS, get_task
from kasmina.errors import UnknownChoiceError, UserError, closest
from kasmina.validation import reject_unknown, require_number

_NAME = re.compile(r"^(?P<task>.+?)(?:-w(?P<widths>\d+(?:x\d+)*))?-rent(?P<rent>[0-9.eE+-]+)$")


class InstanceError(UserError, ValueError):
    """A task-family instance (or family) that is not valid as given."""


def _rent_text(rent: float) -> str:
    # Short where that is exact (0.05 -> "0.05", 0 -> "0"); repr otherwise, so names round-trip.
    short = f"{rent:g}"
    return short if float(short) == rent else repr(rent)


@dataclass(frozen=True)
class Instance:
    """One growth task of a family.

    Attributes:
        task: A registered task (:data:`envs.TASKS`, user tasks included). Every instance of
            a family must grow the same slots with the same blueprints (``mnist1d`` and
            ``digits`` do: slots ``block0``/``block1``, the CNN blueprints).
        widths: The CNN host's block widths, e.g. ``(8, 16)`` (one slot per block); empty:
            the task's own host (user tasks, whose host factory may take no widths).
        param_rent: The parameter price of the reward (``GrowthEnv(param_rent=...)``).
    """

    task: str
    widths: tuple[int, ...]
    param_rent: float

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or self.task not in TASKS:
            raise UnknownChoiceError("instance task", self.task, TASKS)
        widths: tuple[int, ...] = ()
        if not (self.widths is None or (isinstance(self.widths, tuple | list) and not self.widths)):
            widths = as_widths("instance widths", self.widths, InstanceError)
            if not get_task(self.task).takes_widths:
                raise InstanceError(
                    f"instance widths {widths}: task {self.task!r}'s host takes no widths; "
                    "give none (widths=())"
                )
        object.__setattr__(self, "widths", widths)
        rent = require_number("instance param_rent", self.param_rent, low=0.0, error=InstanceError)
        object.__setattr__(self, "param_rent", float(rent))

    @property
    def name(self) -> str:
        """``"mnist1d-w8x16-rent0.05"``: task, widths and price (:meth:`parse` reads it back)."""
        widths = f"-w{'x'.join(str(w) for w in self.widths)}" if self.widths else ""
        return f"{self.task}{widths}-rent{_rent_text(self.param_rent)}"

    def __str__(self) -> str:
        return self.name

    def env_kwargs(self) -> dict[str, Any]:
        """The keyword arguments that make a plain :class:`~envs.GrowthEnv` this instance."""
        widths = {"host_widths": list(self.widths)} if self.widths else {}
        return {"param_rent": self.param_rent, **widths}

    @classmethod
    def parse(cls, value: object) -> Instance:
        """An :class:`Instance` from itself, its :attr:`name` or a mapping of its fields."""
        if isinstance(value, Instance):
            return value
        if isinstance(value, str):
            return _from_name(value)
        if isinstance(value, Mapping):
            return _from_mapping(value)
        raise InstanceError(
            "an instance must be an Instance, a name like 'mnist1d-w8x16-rent0.05' or a mapping "
            f"with task, widths and param_rent; got {type(value).__name__} {value!r}"
        )


def _from_name(name: str) -> Instance:
    match = _NAME.match(name)
    if match is None:
        known = [i.name for f in FAMILIES.values() for i in f.instances]
        hint = f"; did you mean {s!r}?" if (s := closest(name, known)) else ""
        raise InstanceError(
            f"{name!r} is not an instance name (task-w<widths>-rent<price>, e.g. "
            f"'mnist1d-w8x16-rent0.05'){hint}"
        )
    try:
        rent = float(match["rent"])
    except ValueError:
        raise InstanceError(f"instance {name!r}: price {match['rent']!r} is not a number") from None
    widths = tuple(int(w) for w in match["widths"].split("x")) if match["widths"] else ()
    return Instance(match["task"], widths, rent)


def _from_mapping(value: Mapping[Any, Any]) -> Instance:
    fields = ("task", "widths", "param_rent")
    reject_unknown("instance", value, fields)
    missing = [f for f in fields if f not in value]
    if missing:
        raise InstanceError(f"instance {dict(value)!r} lacks {', '.join(missing)}")
    widths = value["widths"]
    return Instance(
        value["task"], tuple(widths) if isinstance(widths, list) else widths, value["param_rent"]
    )


HIDDEN_KEYWORDS = ("host_lr", "seed_lr", "train_fraction", "class_shift_step", "batches_per_step")
"""GrowthEnv keywords a family may hide: they change how training goes, not the spaces."""


@dataclass(frozen=True)
class HiddenFactor:
    """A GrowthEnv keyword drawn per episode, uniformly from ``values``, and never observed.

    A controller can only infer it from what training shows (losses, accuracies, seed
    contributions over time), as a researcher's run would.

    Attributes:
        keyword: One of :data:`HIDDEN_KEYWORDS`.
        values: Its possible values (at least two, no repeats).
    """

    keyword: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.keyword, str) or self.keyword not in HIDDEN_KEYWORDS:
            raise UnknownChoiceError("hidden factor", self.keyword, HIDDEN_KEYWORDS)
        values = tuple(self.values)
        if len(values) < 2 or len(set(values)) != len(values):
            raise InstanceError(
                f"hidden factor {self.keyword} needs two or more distinct values, got {values}"
            )
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class TaskFamily:
    """Instances registered under one Gymnasium id; its env draws one per episode, uniformly.

    Attributes:
        env_id: Its Gymnasium id (``gymnasium.make(env_id)``); one family per id.
        description: One line for listings.
        instances: The instances, in listing order (no repeats, at least one).
        hidden: Factors drawn per episode after the instance, not observed (none: every
            episode of an instance is the same task).
        fixed: GrowthEnv keywords every episode of the family gets, as ``(name, value)``
            pairs (e.g. ``(("early_classes", 5),)`` for a class-incremental family).
    """

    env_id: str
    description: str
    instances: tuple[Instance, ...]
    hidden: tuple[HiddenFactor, ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        instances = tuple(Instance.parse(i) for i in self.instances)
        names = [i.name for i in instances]
        if not names or len(set(names)) != len(names):
            raise InstanceError(
                f"family {self.env_id!r} needs at least one instance and no repeats, got {names}"
            )
        object.__setattr__(self, "instances", instances)
        keywords = [h.keyword for h in self.hidden]
        if len(set(keywords)) != len(keywords):
            raise InstanceError(f"family {self.env_id!r} hides a keyword twice: {keywords}")

    def draw_hidden(self, rng: np.random.Generator) -> dict[str, Any]:
        """One episode's hidden values (one draw per factor, in order)."""
        return {h.keyword: h.values[int(rng.integers(len(h.values)))] for h in self.hidden}

    def pin_hidden(self, given: object) -> dict[str, Any]:
        """``reset(options={"hidden": given})``: every factor's value, checked."""
        factors = {h.keyword: h for h in self.hidden}
        if not isinstance(given, Mapping):
            raise InstanceError(
                f"options['hidden'] must map {list(factors)} to values, got {given!r}"
            )
        reject_unknown(f"family {self.env_id} hidden factors", given, list(factors))
        for keyword, value in given.items():
            if value not in factors[keyword].values:
                raise UnknownChoiceError(f"{keyword} value", value, factors[keyword].values)
        missing = [k for k in factors if k not in given]
        if missing:
            raise InstanceError(f"options['hidden'] lacks {', '.join(missing)} (all or none)")
        return dict(given)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.instances)


def _grid(
    task: str, widths: Iterable[tuple[int, ...]], rents: Iterable[float]
) -> tuple[Instance, ...]:
    return tuple(Instance(task, w, r) for w, r in itertools.product(widths, rents))


def _index(families: Iterable[TaskFamily]) -> dict[str, TaskFamily]:
    index: dict[str, TaskFamily] = {}
    for family in families:
        if family.env_id in index:  # registration would depend on the order
            raise InstanceError(f"family {family.env_id!r} is defined twice")
        index[family.env_id] = family
    return index


FAMILIES: dict[str, TaskFamily] = _index(
    (
        TaskFamily(
            env_id="simic/Grow-Family-v0",
            description="MNIST-1D, host widths (4,8) (8,16) (16,32) x param_rent 0, 0.05, 0.15",
            instances=_grid("mnist1d", [(4, 8), (8, 16), (16, 32)], [0.0, 0.05, 0.15]),
        ),
        TaskFamily(
            env_id="simic/Grow-Family-HeldOut-v0",
            description="held out of training: MNIST-1D width (12,24), price 0.1, and Digits",
            instances=(
                Instance("mnist1d", (12, 24), 0.05),
                Instance("mnist1d", (8, 16), 0.1),
                Instance("digits", (8, 16), 0.05),
            ),
        ),
    )
)
"""Every task family by its env id, in listing order."""


def get_family(env_id: str) -> TaskFamily:
    """The family registered under ``env_id``; an unknown id raises with the closest one."""
    if not isinstance(env_id, str) or env_id not in FAMILIES:
        raise UnknownChoiceError("family id", env_id, FAMILIES)
    return FAMILIES[env_id]
