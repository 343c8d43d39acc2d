"""``simic train``, ``simic evaluate``, ``simic envs`` and ``simic quickstart``: thin argparse
front ends over :mod:`simic.train` and :mod:`simic.evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import envs
from kasmina import seeded_init
from simic.envutil import load_config_file
from simic.errors import SimicError
from simic.evaluate import EvaluateConfig, evaluate
from simic.options import add_options, doc, given, given_flags
from simic.policies import POLICY_NAMES
from simic.train import CONFIG_FILE, MODEL_FILE, load_run_config, train
from simic.train_config import RESUMABLE, TrainConfig, layered


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
@dataclass(frozen=True)
class QuickstartConfig:
    """What ``simic quickstart`` runs: a short training run, then an evaluation."""

    timesteps: int = field(default=6000, metadata=doc("training timesteps"))
    episodes: int = field(default=10, metadata=doc("evaluation episodes per policy"))
    n_envs: int = field(default=2, metadata=doc("parallel environments"))
    out: str = field(default="runs/quickstart", metadata=doc("run folder"))


def _quickstart_train(q: QuickstartConfig) -> tuple[TrainConfig, bool]:
    run = Path(q.out)
    config = TrainConfig(
        timesteps=q.timesteps, n_envs=q.n_envs, out=str(run), eval_every=0, checkpoint_every=1024
    )
    resume = (run / CONFIG_FILE).exists()
    if resume:
        config = dataclasses.replace(load_run_config(run), out=str(run), timesteps=q.timesteps)
    return config, resume


def run_quickstart(args: argparse.Namespace) -> int:
    q = QuickstartConfig(**given(args, QuickstartConfig))
    config, resume = _quickstart_train(q)
    result = train(config, resume=resume)
    if result.interrupted:
        return result.exit_status
    run = Path(q.out)
    return evaluate(
        EvaluateConfig(
            env=config.env,
            env_kwargs=config.env_kwargs,
            policies=(str(run / MODEL_FILE), *POLICY_NAMES),
            episodes=q.episodes,
            seed=1000,
            n_envs=q.n_envs,
            out=str(run / "evaluation"),
        )
    ).exit_status


def add_quickstart(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="train PPO briefly on the default env, then compare with baselines",
        description="The main job: train MaskablePPO on simic/Grow-MNIST1D-v0 for a few minutes "
        "(resuming the run folder if it exists), then evaluate it against the heuristic, "
        "random, nogrow and growall baselines on held-out seeds 1000.. and print the table.",
    )
    add_options(p, QuickstartConfig)
    p.set_defaults(handler=run_quickstart)
