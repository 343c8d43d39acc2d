"""``simic train``, ``simic evaluate``, ``simic envs`` and ``simic quickstart``: thin argparse
front ends over :mod:`simic.training`, :mod:`simic.evaluation` and
:mod:`simic.cli.quickstart`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import envs
from kasmina import seeded_init
from simic.cli.quickstart import QuickstartConfig, quickstart
from simic.common.envutil import load_config_file
from simic.common.errors import SimicError
from simic.common.options import add_options, given, given_flags
from simic.common.runfolder import CONFIG_FILE
from simic.evaluation import EvaluateConfig, evaluate
from simic.training import load_run_config, train
from simic.training.config import RESUMABLE, TrainConfig, layered


# ----------------------------------------------------------------------------------- train
def train_config(args: argparse.Namespace) -> TrainConfig:
    """defaults < --config file < command-line options."""
    file = load_config_file(args.config) if args.config else {}
    return TrainConfig.from_mapping(layered(file, given(args, TrainConfig)))


def resume_config(args: argparse.Namespace) -> TrainConfig:
    """The run's recorded config; only the target timesteps (and display/device) may change."""
    changed = given_flags(args, TrainConfig, but=RESUMABLE)
    changed += ["--config"] if args.config else []
    if changed:
        raise SimicError(
            f"--resume continues the run exactly as recorded in "
            f"{Path(args.resume) / CONFIG_FILE}; drop {', '.join(changed)} (only --timesteps, "
            "--device and --no-progress may be given)"
        )
    run = Path(args.resume)
    config = load_run_config(run)
    # The folder given is the run, wherever it lives now (it may have been moved or copied).
    updates = {k: v for k, v in given(args, TrainConfig).items() if k in RESUMABLE}
    return dataclasses.replace(config, out=str(run), **updates)


def run_train(args: argparse.Namespace) -> int:
    resume = bool(args.resume)
    config = resume_config(args) if resume else train_config(args)
    return train(config, resume=resume, address=args.address).exit_status


def add_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a MaskablePPO growth controller",
        description="Train MaskablePPO on a growth environment (with --engine rllib: Ray "
        "RLlib's PPO with action masking, on a local Ray or a cluster). The run folder receives "
        "the resolved config, TensorBoard logs, periodic atomic checkpoints, the best model on "
        "held-out seeds and the final model. Ctrl-C saves a checkpoint; --resume continues.",
    )
    p.add_argument("--config", help="JSON or YAML file with any of the options below")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    p.add_argument(
        "--address",
        metavar="ADDRESS",
        help="--engine rllib: the Ray cluster to train on (HOST:6379 or ray://HOST:10001; "
        "default: the one RAY_ADDRESS names, else a local Ray with this machine's cores)",
    )
    add_options(p, TrainConfig)
    p.set_defaults(handler=run_train)


# ----------------------------------------------------------------------------------- evaluate
def run_evaluate(args: argparse.Namespace) -> int:
    return evaluate(EvaluateConfig(**given(args, EvaluateConfig))).exit_status


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compare policies on held-out episodes",
        description="Play every policy on episodes with seeds SEED..SEED+N-1 (training uses "
        "seeds from [10**9, 2*10**9), so they never overlap) and print return, final test "
        "accuracy and parameter growth with 95% confidence intervals. With --out, also write "
        "results.json, episodes.csv and figures.",
    )
    add_options(p, EvaluateConfig)
    p.set_defaults(handler=run_evaluate)


# ----------------------------------------------------------------------------------- envs
def run_envs(args: argparse.Namespace) -> int:
    # One row per task spec (one spec per registered id), in id order.
    tasks = sorted(envs.TASKS.values(), key=lambda task: task.env_id)
    rows = [("id", "host", "params", "slots", "blueprints")]
    for task in tasks:
        with seeded_init(0):
            host = task.host_factory()
        slots = ", ".join(f"{s}({w})" for s, w in host.injection_points().items())
        params = sum(p.numel() for p in host.parameters())
        rows.append(
            (task.env_id, type(host).__name__, f"{params:,}", slots, ", ".join(task.blueprints))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))
    for task in tasks:
        print(f"  {task.env_id}: {task.description}")
    for family in envs.FAMILIES.values():  # one instance per episode, drawn from the family
        print(f"{family.env_id}  task family: {family.description}")
        print(f"  instances: {', '.join(family.names)}")
    return 0


def add_envs(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("envs", help="list the registered growth environments")
    p.set_defaults(handler=run_envs)


# ----------------------------------------------------------------------------------- quickstart
def run_quickstart(args: argparse.Namespace) -> int:
    return quickstart(QuickstartConfig(**given(args, QuickstartConfig)))


def add_quickstart(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="the committed learned controller against the baselines, then a training smoke test",
        description="The main job, in two parts. 1: the learned controller that ships with "
        "simic (pretrained:grow-family-v0, from the learning proof) plays every instance of "
        "the task family simic/Grow-Family-v0 against the heuristic and schedule-best on "
        "held-out seeds 5000.. and the family-average table is printed with a reading of the "
        "differences (OUT/committed). 2: a smoke test of the training pipeline: MaskablePPO "
        "from scratch for a few minutes on simic/Grow-MNIST1D-v0 (resuming OUT if it holds "
        "the run), then evaluated against the heuristic, random, nogrow and growall "
        "baselines on held-out seeds 1000.. (OUT/evaluation).",
    )
    add_options(p, QuickstartConfig)
    p.set_defaults(handler=run_quickstart)
