"""Env steps per second: the single env, SubprocVecEnv, and BatchedGrowthEnv (issue 19, item 4).

Compares, in one run and on the same machine:

* ``single``: one :class:`envs.GrowthEnv` stepped in this process;
* ``subproc2``: SB3's ``SubprocVecEnv`` with 2 workers (``simic train``'s default with
  ``--n-envs 2``);
* ``batched``: :class:`envs.BatchedGrowthEnv` at N = 1, 2, 4, 8, 16, 32 in this process;
* ``batched_x2``: the same N split over 2 processes (N/2 each, started together);

for two actors (``random``: masked uniformly random actions, what an untrained PPO plays;
``heuristic``: the hand-written controller) on the default task and on the training family.
Then ``simic train`` steps per second for ``--vectorization subprocess`` (2 envs x 128 steps per
rollout), ``batched`` (8 envs x 32 steps: the same 256-sample rollout and learner settings) and
``batched_x2`` (8 envs x 32 steps and 16 envs x 16 steps, as ``--batched-workers 2``).
With CUDA available it adds ``batched`` on the GPU at N up to 256. Last, a profile of one
batched step at N = 8 and 32 (random actions, default task): where its time goes (training
batches, host forward, seeds, backward, optimizer, validation) from ``cProfile``'s cumulative
times, and the costliest torch operators from ``torch.profiler``, so a missed target names the
part that holds it back. Writes ``results/vector_throughput.json``
(raw numbers, settings, machine load) and ``results/vector_throughput.md`` (the table with
ratios to ``subproc2``, and the profile); ``--profile-only`` measures and writes the profile
alone (``results/vector_throughput_profile.{json,md}``).

Every mode runs on one torch thread per process (the env's default). Measure on a quiet
machine: other load shifts the ratios. ``--quick`` only checks that everything runs.

Usage::

    python -m benchmarks.vector_throughput [--quick] [--steps 40] [--train-timesteps 2048]
    python -m benchmarks.vector_throughput --profile-only
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import multiprocessing
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import SubprocVecEnv

import envs  # noqa: F401  (registers the ids)
from benchmarks.common.machine import machine
from envs.atomic import atomic_write_text
from simic.policies import make_policy

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {"default": "simic/Grow-MNIST1D-v0", "family": "simic/Grow-Family-v0"}
SIZES = (1, 2, 4, 8, 16, 32)
ROLLOUT = 256  # samples per PPO rollout in every ``simic train`` mode
GPU_SIZES = (8, 32, 64, 128, 256)

Actor = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``actor(observations (N, F), masks (N, A)) -> actions (N,)``."""


# ----------------------------------------------------------------------------------- actors
def make_actor(kind: str, env_id: str, n: int, seed: int) -> Actor:
    """Per-env actors behind one batched call (a heuristic keeps state per env)."""
    if kind == "random":
        rng = np.random.default_rng(seed)
        return lambda obs, masks: np.array([rng.choice(np.flatnonzero(m)) for m in masks])
    probe = gym.make(env_id).unwrapped
    policies = [make_policy("heuristic", probe) for _ in range(n)]
    for e, policy in enumerate(policies):
        policy.reset(seed + e)
    return lambda obs, masks: np.array(
        [p.predict(o, m) for p, o, m in zip(policies, obs, masks, strict=True)]
    )


# ----------------------------------------------------------------------------------- modes
def run_single(env_id: str, actor_kind: str, steps: int, kwargs: dict[str, Any]) -> float:
    env = gym.make(env_id, **kwargs).unwrapped
    actor = make_actor(actor_kind, env_id, 1, 0)
    obs, _ = env.reset(seed=0)

    def step() -> None:
        nonlocal obs
        action = actor(obs[None], env.action_masks()[None])[0]
        obs, _, done, _, _ = env.step(action)
        if done:
            obs, _ = env.reset()

    return _timed(step, steps, per_call=1)


def run_subproc(env_id: str, actor_kind: str, steps: int, kwargs: dict[str, Any]) -> float:
    vec = SubprocVecEnv([functools.partial(_make_env, env_id, kwargs) for _ in range(2)])
    actor = make_actor(actor_kind, env_id, 2, 0)
    vec.seed(0)
    obs = vec.reset()
    try:

        def step() -> None:
            nonlocal obs
            masks = np.stack(vec.env_method("action_masks"))
            obs, _, _, _ = vec.step(actor(obs, masks))  # SB3 resets finished envs itself

        return _timed(step, steps, per_call=2)
    finally:
        vec.close()


def _make_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    # module level, so a worker unpickles it by reference and imports envs (the ids) with it
    return gym.make(env_id, **kwargs)


def run_batched(
    env_id: str, actor_kind: str, steps: int, kwargs: dict[str, Any], n: int, seed: int = 0
) -> float:
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    actor = make_actor(actor_kind, env_id, n, seed)
    obs, _ = vec.reset(seed=seed)
    try:

        def step() -> None:
            nonlocal obs
            obs, *_ = vec.step(actor(obs, vec.action_masks()))  # NEXT_STEP autoreset

        return _timed(step, steps, per_call=n)
    finally:
        vec.close()


def _split_worker(args: tuple[Any, ...]) -> float:
    env_id, actor_kind, steps, kwargs, n, seed, barrier = args
    torch.set_num_threads(1)
    barrier.wait()  # both halves step at the same time
    return run_batched(env_id, actor_kind, steps, kwargs, n, seed)


def run_batched_split(
    env_id: str, actor_kind: str, steps: int, kwargs: dict[str, Any], n: int
) -> float | None:
    """N envs as 2 processes of N/2 batched envs; the sum of both halves' rates."""
    if n < 2:
        return None
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        jobs = [(env_id, actor_kind, steps, kwargs, n // 2, 1000 * k, barrier) for k in range(2)]
        with ctx.Pool(2) as pool:
            return float(sum(pool.map(_split_worker, jobs)))


def _timed(step: Callable[[], None], steps: int, per_call: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * per_call / (time.perf_counter() - started)


# ----------------------------------------------------------------------------------- training
TRAIN_MODES = (("subprocess", 2, 1), ("batched", 8, 1), ("batched_x2", 8, 2), ("batched_x2", 16, 2))
"""``simic train`` runs compared: (label, ``--n-envs``, ``--batched-workers``); every one
collects 256-sample rollouts (``n_steps = 256 / n_envs``) with the same learner settings."""


def train_rate(
    env_id: str, mode: str, n_envs: int, workers: int, timesteps: int, kwargs: dict[str, Any]
) -> float:
    """``simic train`` env steps per second (PPO updates included), same rollout size."""
    from simic.training import TrainConfig, train

    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig.from_mapping(
            {
                "env": env_id,
                "env_kwargs": kwargs,
                "timesteps": timesteps,
                "n_envs": n_envs,
                "vectorization": "subprocess" if mode == "subprocess" else "batched",
                "batched_workers": workers,
                "out": str(Path(folder) / "run"),
                "eval_every": 0,
                "checkpoint_every": timesteps,
                "progress_bar": False,
                "ppo": {"n_steps": ROLLOUT // n_envs, "batch_size": 64},
            }
        )
        started = time.perf_counter()
        train(config, out=lambda *_: None)
        return timesteps / (time.perf_counter() - started)


# ----------------------------------------------------------------------------------- profile
PROFILE_SIZES = (8, 32)
PROFILE_PARTS = (  # (label, file suffix, function): cumulative time per batched step
    ("batched step", "envs/batched/vector_env.py", "step"),
    ("training batches", "envs/batched/work.py", "train_group"),
    ("- host forward (seeds included)", "envs/batched/grouped_host.py", "forward"),
    ("- backward", "torch/_tensor.py", "backward"),
    ("- optimizer (foreach Adam)", "envs/batched/optim.py", "step_all"),
    ("validation and counterfactuals", "envs/batched/work.py", "measure_group"),
    ("seeds' forward (in training and validation)", "kasmina/blueprints/base.py", "forward"),
)
TOP_OPS = 8  # torch operators listed by self time
OPS_STEPS = 4  # batched steps under torch.profiler (40 at N = 32 took 24 GB)


def profile_step(env_id: str, steps: int, kwargs: dict[str, Any], n: int) -> dict:
    """Where a batched step (N envs, masked random actions) spends its time: milliseconds per
    batched step in each of :data:`PROFILE_PARTS` (``cProfile``'s cumulative times), and the
    share of CPU time of the :data:`TOP_OPS` costliest torch operators (``torch.profiler``'s
    self times, a second pass: each profiler adds overhead of its own)."""
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    actor = make_actor("random", env_id, n, 0)
    obs, _ = vec.reset(seed=0)

    def play(count: int) -> None:
        nonlocal obs
        for _ in range(count):
            obs, *_ = vec.step(actor(obs, vec.action_masks()))

    for _ in range(2):  # warm-up: first germinations, allocator
        obs, *_ = vec.step(actor(obs, vec.action_masks()))
    profile = cProfile.Profile()
    profile.runcall(play, steps)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    parts = {}
    for label, suffix, function in PROFILE_PARTS:
        total = sum(
            row[3] for (file, _, name), row in stats.items()
            if name == function and file.endswith(suffix)
        )  # fmt: skip
        parts[label] = 1000 * total / steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as ops:
        play(min(steps, OPS_STEPS))  # every op's events are kept: memory grows with the steps
    vec.close()
    events = sorted(ops.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    top = {e.key: e.self_cpu_time_total / total for e in events[:TOP_OPS]}
    return {
        "env": env_id,
        "n": n,
        "steps": steps,
        "ms_per_batched_step": parts,
        "top_ops": top,
    }


def profile_table(profile: dict[str, Any]) -> str:
    lines = [
        f"## Where a batched step's time goes (N = {profile['n']}, {profile['env']}, "
        f"random actions, {profile['steps']} steps under cProfile)",
        "",
        "| part | ms per batched step | ms per env step |",
        "|---|---:|---:|",
    ]
    for part, ms in profile["ms_per_batched_step"].items():
        lines.append(f"| {part} | {ms:.1f} | {ms / profile['n']:.2f} |")
    lines += ["", "| torch operator (torch.profiler) | share of CPU time |", "|---|---:|"]
    for op, share in profile.get("top_ops", {}).items():
        lines.append(f"| `{op}` | {100 * share:.1f}% |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- report
def measure(args: argparse.Namespace, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    kwargs = {"budget": args.budget} if args.budget else {}
    sizes = SIZES[:2] if args.quick else SIZES
    rows: list[dict[str, Any]] = []
    for task, env_id in TASKS.items():
        for actor in ("random", "heuristic"):
            base = {"task": task, "actor": actor}
            cuda = torch.cuda.is_available() and not args.quick
            rows += _env_rows(env_id, actor, args.steps, kwargs, sizes, base, cuda)
            print(json.dumps(rows[-1]), flush=True)
    training = [
        {
            "task": task,
            "mode": mode,
            "n": n,
            "workers": workers,
            "steps_per_s": train_rate(env_id, mode, n, workers, args.train_timesteps, kwargs),
        }
        for task, env_id in TASKS.items()
        for mode, n, workers in TRAIN_MODES
    ]  # one after the other, so each has the machine to itself
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {"settings": settings, "machine": machine(), "env_steps": rows, "train": training}
    save(report)  # what a crash in the profile would otherwise take with it
    report["profile"] = [
        profile_step(TASKS["default"], args.steps, kwargs, n) for n in PROFILE_SIZES
    ]
    return report


def _env_rows(
    env_id: str,
    actor: str,
    steps: int,
    kwargs: dict[str, Any],
    sizes: tuple[int, ...],
    base: dict[str, Any],
    cuda: bool = False,
) -> list[dict[str, Any]]:
    def row(mode: str, n: int, rate: float) -> dict[str, Any]:
        return {**base, "mode": mode, "n": n, "steps_per_s": rate}

    rows = [
        row("single", 1, run_single(env_id, actor, steps, kwargs)),
        row("subproc2", 2, run_subproc(env_id, actor, steps, kwargs)),
    ]
    for n in sizes:
        rows.append(row("batched", n, run_batched(env_id, actor, steps, kwargs, n)))
        split = run_batched_split(env_id, actor, steps, kwargs, n)
        if split is not None:
            rows.append(row("batched_x2", n, split))
    if cuda:
        on_gpu = {**kwargs, "device": "cuda"}
        for n in GPU_SIZES:
            rows.append(row("batched_cuda", n, run_batched(env_id, actor, steps, on_gpu, n)))
    return rows


def table(report: dict[str, Any]) -> str:
    lines = [
        "# Vector throughput (env steps / s; ratio to subproc2 of the same task and actor)",
        "",
        f"Machine: {report['machine']}",
        "",
        "| task | actor | mode | N | steps/s | x subproc2 |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in report["env_steps"]:
        ref = next(
            r["steps_per_s"]
            for r in report["env_steps"]
            if (r["task"], r["actor"], r["mode"]) == (row["task"], row["actor"], "subproc2")
        )
        lines.append(
            f"| {row['task']} | {row['actor']} | {row['mode']} | {row['n']} | "
            f"{row['steps_per_s']:.1f} | {row['steps_per_s'] / ref:.2f}x |"
        )
    lines += ["", f"## simic train (same {ROLLOUT}-sample rollout, same learner)", ""]
    lines += ["| task | vectorization | N | steps/s | x subprocess |", "|---|---|---:|---:|---:|"]
    for row in report["train"]:
        ref = next(
            r["steps_per_s"]
            for r in report["train"]
            if (r["task"], r["mode"]) == (row["task"], "subprocess")
        )
        lines.append(
            f"| {row['task']} | {row['mode']} | {row.get('n', '')} | {row['steps_per_s']:.1f} | "
            f"{row['steps_per_s'] / ref:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    profiles = report.get("profile", [])
    return text + "".join("\n" + profile_table(p) for p in profiles)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run: checks that it works")
    parser.add_argument("--steps", type=int, default=40, help="timed vector steps per mode")
    parser.add_argument("--budget", type=int, default=0, help="episode budget (0: the env's)")
    parser.add_argument("--train-timesteps", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile-only", action="store_true", help="only the profile of one batched step"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.budget, args.train_timesteps = 2, args.budget or 3, 256
    kwargs = {"budget": args.budget} if args.budget else {}
    if args.profile_only:
        profile = [profile_step(TASKS["default"], args.steps, kwargs, n) for n in PROFILE_SIZES]
        report = {"machine": machine(), "profile": profile}
        text = "".join(profile_table(p) for p in profile)
    name = "vector_throughput" + ("_quick" if args.quick else "")
    name += "_profile" if args.profile_only else ""

    def save(report: dict[str, Any]) -> None:
        atomic_write_text(args.out / f"{name}.json", json.dumps(report, indent=2))

    if not args.profile_only:
        report = measure(args, save)
        text = table(report)
    save(report)
    atomic_write_text(args.out / f"{name}.md", text)
    print(text)


if __name__ == "__main__":
    main()
