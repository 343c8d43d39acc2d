"""``simic train``, ``simic evaluate``, ``simic envs`` and ``simic quickstart``: thin argparse
front ends over :mod:`simic.train` and :mod:`simic.evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import envs
from kasmina import seeded_init
from simic.envutil import SimicError, load_config_file, parse_kwargs
from simic.evaluate import EvaluateConfig, evaluate
from simic.policies import POLICY_NAMES, list_policies
from simic.train import (
    CONFIG_FILE,
    MODEL_FILE,
    PPOConfig,
    TrainConfig,
    load_run_config,
    section_mapping,
    train,
)

PPO_OPTIONS: dict[str, type] = {
    "learning_rate": float,
    "n_steps": int,
    "batch_size": int,
    "n_epochs": int,
    "gamma": float,
    "gae_lambda": float,
    "clip_range": float,
    "ent_coef": float,
    "vf_coef": float,
    "max_grad_norm": float,
}
RUN_OPTIONS = (
    "env",
    "n_envs",
    "seed",
    "out",
    "checkpoint_every",
    "eval_every",
    "eval_episodes",
    "eval_seed",
)


# ----------------------------------------------------------------------------------- train
def _net_arch(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of widths (e.g. 64,64)"
        ) from None


def _given(args: argparse.Namespace, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def train_config(args: argparse.Namespace) -> TrainConfig:
    """defaults < --config file < command-line options."""
    data = load_config_file(args.config) if args.config else {}
    data.update(_given(args, [*RUN_OPTIONS, "timesteps", "device"]))
    if args.env_kwargs:
        in_file = section_mapping("env_kwargs", data.get("env_kwargs"), "budget: 20")
        data["env_kwargs"] = {**in_file, **parse_kwargs(args.env_kwargs)}
    in_file = section_mapping("ppo", data.get("ppo"), "n_steps: 256")
    ppo = {**in_file, **_given(args, [*PPO_OPTIONS, "net_arch"])}
    if ppo:
        data["ppo"] = ppo
    if args.no_progress:
        data["progress_bar"] = False
    return TrainConfig.from_mapping(data)


def resume_config(args: argparse.Namespace) -> TrainConfig:
    """The run's recorded config; only the target timesteps (and display/device) may change."""
    changed = _given(args, [*RUN_OPTIONS, *PPO_OPTIONS, "net_arch", "config"])
    if changed or args.env_kwargs:
        names = ", ".join(
            f"--{n.replace('_', '-')}"
            for n in [*changed] + (["env-kwargs"] if args.env_kwargs else [])
        )
        raise SimicError(
            f"--resume continues the run exactly as recorded in "
            f"{Path(args.resume) / CONFIG_FILE}; drop {names} (only --timesteps, "
            "--device and --no-progress may be given)"
        )
    run = Path(args.resume)
    config = load_run_config(run)
    # The folder given is the run, wherever it lives now (it may have been moved or copied).
    updates: dict[str, Any] = {"out": str(run), **_given(args, ["timesteps", "device"])}
    if args.no_progress:
        updates["progress_bar"] = False
    return dataclasses.replace(config, **updates)


def run_train(args: argparse.Namespace) -> int:
    resume = bool(args.resume)
    result = train(resume_config(args) if resume else train_config(args), resume=resume)
    return result.exit_status


def add_train(subparsers: argparse._SubParsersAction) -> None:
    d, p0 = TrainConfig(), PPOConfig()
    p = subparsers.add_parser(
        "train",
        help="train a MaskablePPO growth controller",
        description="Train MaskablePPO on a growth environment. The run folder receives the "
        "resolved config, TensorBoard logs, periodic atomic checkpoints, the best model on "
        "held-out seeds and the final model.zip. Ctrl-C saves a checkpoint; --resume continues.",
    )
    p.add_argument("--config", help="JSON or YAML file with any of the options below")
    p.add_argument("--env", help=f"environment id (default {d.env}; see 'simic envs')")
    p.add_argument("--timesteps", type=int, help=f"total timesteps (default {d.timesteps})")
    p.add_argument("--n-envs", type=int, help=f"parallel environments (default {d.n_envs})")
    p.add_argument("--seed", type=int, help=f"seed (default {d.seed})")
    p.add_argument("--out", help=f"run folder (default {d.out})")
    p.add_argument("--device", help=f"torch device for PPO (default {d.device})")
    p.add_argument(
        "--env-kwargs",
        nargs="+",
        metavar="KEY=VALUE",
        help="environment keyword arguments, e.g. budget=20 param_rent=0.1",
    )
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    p.add_argument("--checkpoint-every", type=int, help=f"(default {d.checkpoint_every})")
    p.add_argument("--eval-every", type=int, help=f"0 disables (default {d.eval_every})")
    p.add_argument("--eval-episodes", type=int, help=f"(default {d.eval_episodes})")
    p.add_argument("--eval-seed", type=int, help=f"first held-out seed (default {d.eval_seed})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = p.add_argument_group("PPO hyperparameters")
    for name, kind in PPO_OPTIONS.items():
        group.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"(default {getattr(p0, name)})"
        )
    group.add_argument(
        "--net-arch",
        type=_net_arch,
        help=f"hidden layer widths (default {','.join(map(str, p0.net_arch))})",
    )
    p.set_defaults(handler=run_train)


# ----------------------------------------------------------------------------------- evaluate
def evaluate_config(args: argparse.Namespace) -> EvaluateConfig:
    defaults = EvaluateConfig()
    values = _given(args, ["env", "episodes", "seed", "n_envs", "out", "device"])
    return EvaluateConfig(
        **values,
        policies=tuple(args.policy or defaults.policies),
        env_kwargs=parse_kwargs(args.env_kwargs or []),
        save_model=args.save_model,
        transfer=args.transfer,
    )


def run_evaluate(args: argparse.Namespace) -> int:
    return evaluate(evaluate_config(args)).exit_status


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    d = EvaluateConfig()
    p = subparsers.add_parser(
        "evaluate",
        help="compare policies on held-out episodes",
        description="Play every policy on episodes with seeds SEED..SEED+N-1 (training uses "
        "seeds from [10**9, 2*10**9), so they never overlap) and print return, final test "
        "accuracy and parameter growth with 95%% confidence intervals. With --out, also write "
        "results.json, episodes.csv and figures.",
    )
    p.add_argument("--env", help=f"environment id (default {d.env})")
    p.add_argument(
        "--policy",
        action="append",
        metavar="POLICY",
        help=f"{', '.join(list_policies())} or a model .zip from 'simic train' "
        "(repeatable; default: all baselines)",
    )
    p.add_argument("--episodes", type=int, help=f"episodes per policy (default {d.episodes})")
    p.add_argument("--seed", type=int, help=f"first episode seed (default {d.seed})")
    p.add_argument("--n-envs", type=int, help=f"worker processes (default {d.n_envs})")
    p.add_argument("--out", help="folder for results.json, episodes.csv and figures")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE")
    p.add_argument(
        "--save-model",
        action="store_true",
        help="export each episode's grown network to OUT/models",
    )
    p.add_argument("--device", help=f"torch device for PPO policies (default {d.device})")
    p.add_argument(
        "--transfer",
        action="store_true",
        help="let a model play an environment other than the one it was trained on (a "
        "transfer experiment; the spaces must still have the same shape)",
    )
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
    return 0


def add_envs(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("envs", help="list the registered growth environments")
    p.set_defaults(handler=run_envs)


# ----------------------------------------------------------------------------------- quickstart
def run_quickstart(args: argparse.Namespace) -> int:
    run = Path(args.out)
    config = TrainConfig(
        timesteps=args.timesteps,
        n_envs=args.n_envs,
        out=str(run),
        eval_every=0,
        checkpoint_every=1024,
    )
    resume = (run / CONFIG_FILE).exists()
    if resume:
        config = dataclasses.replace(load_run_config(run), out=str(run), timesteps=args.timesteps)
    result = train(config, resume=resume)
    if result.interrupted:
        return result.exit_status
    return evaluate(
        EvaluateConfig(
            env=config.env,
            env_kwargs=config.env_kwargs,
            policies=(str(run / MODEL_FILE), *POLICY_NAMES),
            episodes=args.episodes,
            seed=1000,
            n_envs=args.n_envs,
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
    p.add_argument("--timesteps", type=int, default=6000, help="(default 6000)")
    p.add_argument("--episodes", type=int, default=10, help="per policy (default 10)")
    p.add_argument("--n-envs", type=int, default=2, help="(default 2)")
    p.add_argument("--out", default="runs/quickstart", help="(default runs/quickstart)")
    p.set_defaults(handler=run_quickstart)
