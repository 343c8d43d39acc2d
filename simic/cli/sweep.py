"""``simic sweep CONFIG``: the command line of :mod:`simic.sweep.tune` (a thin layer over
:class:`SweepOptions` and :class:`~simic.sweep.config.SweepConfig`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from simic.common.envutil import load_config_file
from simic.common.options import add_options, doc, given
from simic.common.raysupport import check_address, require_ray
from simic.sweep.config import SweepConfig
from simic.sweep.tune import FEATURE, run_sweep


@dataclass(frozen=True)
class SweepOptions:
    """Where and how ``simic sweep CONFIG`` runs (the config file describes the sweep)."""

    storage: str | None = field(
        default=None,
        metadata=doc("the sweep's folder (default runs/<config file name>)", metavar="DIR"),
    )
    address: str | None = field(
        default=None,
        metadata=doc(
            "the Ray cluster to run on (HOST:6379 or ray://HOST:10001; default RAY_ADDRESS, "
            "else a local Ray with this machine's cores)",
            metavar="ADDRESS",
        ),
    )
    resume: bool = field(
        default=False, metadata=doc("continue the stopped sweep in the storage folder")
    )

    def __post_init__(self) -> None:
        if self.address is not None:
            check_address(self.address, "--address")

    def storage_folder(self, config_file: str) -> Path:
        return Path(self.storage) if self.storage else Path("runs") / Path(config_file).stem


def run_sweep_command(args: argparse.Namespace) -> int:
    options = SweepOptions(**given(args, SweepOptions))
    config = SweepConfig.from_mapping(load_config_file(args.config))
    require_ray(FEATURE)  # one line if Ray is not installed, before any folder is touched
    storage = options.storage_folder(args.config)
    report = run_sweep(config, storage, address=options.address, resume=options.resume)
    return report.exit_status


def add_sweep(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="search training settings with Ray Tune, compared with the baselines",
        description="Train one run per trial of the search that CONFIG (YAML or JSON) "
        "describes, as Ray Tune trials, evaluate every trial's model and the baselines on the "
        "same held-out seeds, and print one table (also written as sweep.json, sweep.csv and "
        "sweep.png in the storage folder). A stopped sweep continues with --resume; finished "
        "trials are not run again. Needs the [ray] extra. The config format: see "
        "simic/sweep/config.py or benchmarks/configs/sweep_example.yaml.",
    )
    p.add_argument("config", metavar="CONFIG", help="the sweep config file (YAML or JSON)")
    add_options(p, SweepOptions)
    p.set_defaults(handler=run_sweep_command)
