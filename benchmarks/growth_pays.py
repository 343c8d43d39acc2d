"""Does growth pay on an environment? Scripted growth vs the static host, over many seeds.

Policies:
  wait    always WAIT: the static host trained for the whole budget.
  script  GERMINATE conv_light (transformers: mlp_small) into the last slot at the first step,
          FOSSILIZE it as soon as allowed.

Prints mean final test accuracy with a 95% confidence interval (t distribution) per policy, and
the paired difference. Usage::

    python benchmarks/growth_pays.py [--env simic/Grow-MNIST1D-v0] [--seeds 10] [--first-seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
from scipy import stats

import envs


def scripted_action(env: envs.GrowthEnv) -> int:
    """GERMINATE(last slot, conv_light) when allowed, then FOSSILIZE it when allowed, else WAIT."""
    slot = env.slots[-1]
    blueprint = "conv_light" if "conv_light" in env.codec.blueprints else "mlp_small"
    mask = env.action_masks()
    for action in (
        envs.GrowthAction(envs.ActionKind.GERMINATE, slot, blueprint),
        envs.GrowthAction(envs.ActionKind.FOSSILIZE, slot),
    ):
        index = env.encode_action(action)
        if mask[index] and not (
            action.kind is envs.ActionKind.GERMINATE and env.model.slot(slot).blueprint is not None
        ):
            return index
    return 0


def run_episode(env: gym.Env, seed: int, policy: str) -> dict[str, float]:
    env.reset(seed=seed)
    base, total, fossilized = env.unwrapped, 0.0, False
    while True:
        action = scripted_action(base) if policy == "script" and not fossilized else 0
        _, reward, terminated, _, info = env.step(action)
        fossilized = fossilized or info["seeds_fossilized"] > 0
        total += reward
        if terminated:
            return {
                "test_accuracy": info["test_accuracy"],
                "return": total,
                "param_growth": info["param_growth"],
            }


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    sem = statistics.stdev(values) / len(values) ** 0.5
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def compare(env_id: str, seeds: list[int], **kwargs: object) -> dict[str, list[dict[str, float]]]:
    env = gym.make(env_id, **kwargs)
    return {policy: [run_episode(env, s, policy) for s in seeds] for policy in ("wait", "script")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="simic/Grow-MNIST1D-v0")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    start = time.perf_counter()
    results = compare(args.env, seeds)
    print(
        f"{args.env}: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), "
        f"{time.perf_counter() - start:.0f} s"
    )
    for policy, rows in results.items():
        acc = mean_ci([100 * r["test_accuracy"] for r in rows])
        ret = mean_ci([r["return"] for r in rows])
        growth = statistics.fmean(r["param_growth"] for r in rows)
        print(
            f"  {policy:7} test accuracy {acc[0]:5.1f} ± {acc[1]:4.1f} %   "
            f"return {ret[0]:+.3f} ± {ret[1]:.3f}   param growth {growth:.2f}"
        )
    diff = mean_ci(
        [
            100 * (s["test_accuracy"] - w["test_accuracy"])
            for s, w in zip(results["script"], results["wait"], strict=True)
        ]
    )
    print(f"  script - wait: {diff[0]:+.1f} ± {diff[1]:.1f} points (paired, 95% CI)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
