"""Command-line options generated from config dataclasses, so that each option is written once.

A config field declared with ``metadata=doc(...)`` carries its help text (and, where the
command line's convention differs from its name, its flag or metavar). :func:`add_options` makes
one argparse option per field, converting by the field's type and showing the field's default;
:func:`given` reads back only the options the command line gave, as keyword arguments of the
dataclass (a nested dataclass's as a nested mapping), so every default stays the dataclass's own
and a ``--config`` file can sit between the two. By the field's type:

    int, float, str, str | None    --name VALUE
    bool                           --name (default False) or --no-name (default True)
    dict[str, Any]                 --name KEY=VALUE [KEY=VALUE ...]  (values read as YAML)
    tuple[int, ...]                --name 64,64
    tuple[str, ...]                --name VALUE, repeatable
    tuple[str, str]                --name A B
    a dataclass                    its own fields, in an argument group titled by its help
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Collection
from dataclasses import MISSING, dataclass
from typing import Any

from simic.common.envutil import parse_kwargs

_HELP, _FLAG, _METAVAR, _CONST = "help", "flag", "metavar", "const"


def doc(
    help: str,
    *,
    flag: str | None = None,
    metavar: str | tuple[str, ...] | None = None,
    const: str | None = None,
) -> dict[str, Any]:
    """A config field's metadata: its ``--help`` line, and a flag or metavar if not the usual.

    ``field(default=128, metadata=doc("steps per environment in each rollout"))``; a string
    field with ``const`` takes an optional value: ``--ray`` alone means ``const``.
    """
    return {_HELP: help, _FLAG: flag, _METAVAR: metavar, _CONST: const}


@dataclass(frozen=True)
class Option:
    """One field of a config dataclass, as a command-line option."""

    path: tuple[str, ...]  # field names from the outer dataclass down, e.g. ("ppo", "gamma")
    kind: Any  # the field's type, without "| None"
    field: dataclasses.Field[Any]
    group: str | None  # the nested dataclass field's help, used as the group title

    @property
    def dest(self) -> str:
        return ".".join(self.path)

    @property
    def default(self) -> Any:
        if self.field.default_factory is not MISSING:
            return self.field.default_factory()
        return self.field.default

    @property
    def help(self) -> str:
        return str(self.field.metadata.get(_HELP) or "")

    @property
    def flag(self) -> str:
        name = self.path[-1].replace("_", "-")
        negated = self.kind is bool and self.default is True
        return self.field.metadata.get(_FLAG) or (f"--no-{name}" if negated else f"--{name}")


def _without_none(kind: Any) -> Any:
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        rest = [a for a in typing.get_args(kind) if a is not type(None)]
        return rest[0] if len(rest) == 1 else kind
    return kind


def options(cls: type, prefix: tuple[str, ...] = (), group: str | None = None) -> list[Option]:
    """Every field of dataclass ``cls`` as an option; a nested dataclass's fields in a group."""
    hints = typing.get_type_hints(cls)
    found: list[Option] = []
    for f in dataclasses.fields(cls):
        kind = _without_none(hints[f.name])
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            found += options(kind, (*prefix, f.name), str(f.metadata.get(_HELP) or f.name))
        else:
            found.append(Option((*prefix, f.name), kind, f, group))
    return found


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers (e.g. 64,64)"
        ) from None


def _form(o: Option) -> dict[str, Any]:
    """How argparse reads ``o``: its action, nargs, type and metavar, from the field's type."""
    origin, args = typing.get_origin(o.kind), typing.get_args(o.kind)
    metavar = o.field.metadata.get(_METAVAR)
    if o.kind is bool:
        return {"action": "store_const", "const": not o.default}
    if origin is dict:
        return {"nargs": "+", "metavar": metavar or "KEY=VALUE"}
    if origin is tuple and args[-1] is Ellipsis:
        form = {"type": _int_list} if args[0] is int else {"action": "append"}
        return {**form, "metavar": metavar or o.path[-1].upper()}
    if origin is tuple:
        return {"nargs": len(args), "metavar": metavar or o.path[-1].upper()}
    if o.kind is str and o.field.metadata.get(_CONST) is not None:
        const = o.field.metadata[_CONST]
        return {"nargs": "?", "const": const, "type": str, "metavar": metavar or "VALUE"}
    if o.kind in (int, float, str):
        return {"type": o.kind, "metavar": metavar or o.path[-1].upper()}
    raise TypeError(f"{o.dest}: no command-line form for a field of type {o.kind!r}")


def _shown(o: Option) -> str:
    """The default as it is typed on the command line ('' when there is nothing to show)."""
    value = o.default
    if value is None or value == {} or o.kind is bool:
        return ""
    if isinstance(value, tuple):
        args = typing.get_args(o.kind)
        sep = "," if args[0] is int else ", " if args[-1] is Ellipsis else " "
        return sep.join(map(str, value))
    return str(value)


def _help(o: Option) -> str:
    text = f"do not {o.help}" if o.kind is bool and o.default else o.help
    shown = _shown(o)
    text = f"{text} (default {shown})" if shown else text
    return text.replace("%", "%%")  # argparse formats help with %


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per field of ``cls``; an option not given leaves no attribute on the result."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for o in options(cls):
        target: argparse._ActionsContainer = parser
        if o.group is not None:
            if o.group not in groups:
                groups[o.group] = parser.add_argument_group(o.group)
            target = groups[o.group]
        target.add_argument(
            o.flag, dest=o.dest, default=argparse.SUPPRESS, help=_help(o), **_form(o)
        )


def _value(o: Option, value: Any) -> Any:
    if typing.get_origin(o.kind) is dict:
        return parse_kwargs(value)
    return tuple(value) if typing.get_origin(o.kind) is tuple else value


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options of ``cls`` that the command line gave, as (nested) keyword arguments."""
    values: dict[str, Any] = {}
    for o in options(cls):
        if hasattr(args, o.dest):
            target = values
            for section in o.path[:-1]:
                target = target.setdefault(section, {})
            target[o.path[-1]] = _value(o, getattr(args, o.dest))
    return values


def given_flags(args: argparse.Namespace, cls: type, but: Collection[str] = ()) -> list[str]:
    """The flags of ``cls``'s options the command line gave (except fields ``but``), in order."""
    return [o.flag for o in options(cls) if hasattr(args, o.dest) and o.path[0] not in but]
