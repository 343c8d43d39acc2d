"""The ``simic`` command line: quickstart, train, evaluate, sweep, envs, blueprints, demo.

Errors a user causes (a bad value, an unknown name, a bad option) are printed as one line,
``simic: error: <message>``, with exit status 2 and never a traceback; errors that are bugs
still raise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from kasmina import BlueprintRegistry, Topology, UserError
from kasmina.errors import closest
from simic.cli import runs as cli_runs
from simic.cli import sweep as cli_sweep
from simic.cli.demo import DemoConfig, run_demo
from simic.common.options import add_options, given
from simic.common.signals import Terminated, exit_status

USAGE_ERROR = 2
Handler = Callable[[argparse.Namespace], int]


class _UsageError(Exception):
    """A command-line mistake found by argparse (reported like every other user error)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports mistakes through :func:`main` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")

    def parse_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # reported by the subcommand's parser, so the hint names its --help
            command: argparse.ArgumentParser = getattr(parsed, "command_parser", self)
            command.error(_unrecognized(extras, command))
        return parsed


def _unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    options = [o for o in parser._option_string_actions if o.startswith("--")]
    hints = []
    for extra in extras:
        name = extra.split("=", 1)[0]
        suggestion = closest(name, options) if name.startswith("-") else None
        hints.append(f"{extra} (did you mean {suggestion}?)" if suggestion else extra)
    return f"unrecognized arguments: {' '.join(hints)}"


def _report(message: object) -> int:
    print(f"simic: error: {message}", file=sys.stderr)
    return USAGE_ERROR


# ------------------------------------------------------------------------------------ demo
def _run_demo_command(args: argparse.Namespace) -> int:
    run_demo(DemoConfig(**given(args, DemoConfig)))  # bad values are UserErrors: see main()
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="a tour of kasmina on MNIST-1D: grow a small CNN and show every decision",
        description="Train a small 1-D CNN on MNIST-1D, germinate two seeds into it, and "
        "fossilize or prune each one on its measured contribution to validation accuracy.",
    )
    add_options(p, DemoConfig)
    p.set_defaults(handler=_run_demo_command)


# ------------------------------------------------------------------------------------ blueprints
def _blueprint_rows(args: argparse.Namespace) -> list[tuple[str, ...]]:
    topology = None if args.topology is None else Topology.parse(args.topology)
    # spatial_dims only reaches blueprints that accept it (the CNN ones).
    specs = BlueprintRegistry.list(topology, dim=args.dim, spatial_dims=args.spatial_dims)
    rows = []
    for spec in specs:
        kwargs = {"spatial_dims": args.spatial_dims} if "spatial_dims" in spec.keywords else {}
        rows.append(
            (
                spec.topology.value,
                spec.name,
                f"{spec.param_count(args.dim, **kwargs):,}",
                "yes" if spec.supports_checkpoint else "no",
                spec.description,
            )
        )
    return rows


def _run_blueprints_command(args: argparse.Namespace) -> int:
    header = ("topology", "name", f"params@{args.dim}", "checkpoint", "description")
    rows = [header, *_blueprint_rows(args)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [
            c.rjust(w) if i == 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]))
    print(
        f"(parameters counted at dim={args.dim}; cnn blueprints with "
        f"spatial_dims={args.spatial_dims})"
    )
    return 0


def _add_blueprints(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "blueprints",
        help="list the registered blueprints, smallest first",
        description="List the registered blueprints with their exact parameter counts.",
    )
    p.add_argument("--topology", help="cnn or transformer (default: both)")
    p.add_argument("--dim", type=int, default=64, help="feature width to count at (default 64)")
    p.add_argument(
        "--spatial-dims",
        type=int,
        choices=(1, 2),
        default=2,
        help="1-D or 2-D feature maps, for cnn blueprints (default 2)",
    )
    p.set_defaults(handler=_run_blueprints_command)


# ------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simic", description="simic: a controller that grows neural networks while they train."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    cli_runs.add_quickstart(subparsers)
    cli_runs.add_train(subparsers)
    cli_runs.add_evaluate(subparsers)
    cli_runs.add_envs(subparsers)
    cli_sweep.add_sweep(subparsers)
    _add_blueprints(subparsers)
    _add_demo(subparsers)
    for command in subparsers.choices.values():
        command.set_defaults(command_parser=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _report(exc)
    except SystemExit as exc:  # --help and --version exit from inside argparse
        return exc.code if isinstance(exc.code, int) else 0
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    try:
        return handler(args)
    # Only input the user can fix is one line; any other error (an IllegalTransitionError from
    # code, a TypeError) is a bug and keeps its traceback.
    except UserError as exc:
        return _report(exc)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM before a command could save work
        print(
            f"simic: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}",
            file=sys.stderr,
        )
        return exit_status(stop)
