"""Does growth pay on an environment? Scripted growth vs the static host, over many seeds.

Policies:
  wait    always WAIT: the static host trained for the whole budget.
  script  GERMINATE conv_light (transformers: mlp_small) into the last slot at the first step,
          FOSSILIZE it as soon as allowed.

Prints mean final test accuracy with a 95% confidence interval (t distribution) per policy, and
the paired difference. Usage::

    python -m benchmarks.growth_pays [--env simic/Grow-MNIST1D-v0] [--seeds 10] [--first-seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym

import envs
from simic.common.stats import mean_ci
from simic.policies import Step, make_policy, run_episode


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


class _Script:
    """The script as a policy: :func:`scripted_action` until a seed is fossilized, then WAIT."""

    name = "script"

    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.fossilized = False

    def reset(self, seed: int | None = None) -> None:
        self.fossilized = False

    def predict(self, observation: Any, action_masks: Any) -> int:
        return 0 if self.fossilized else scripted_action(self.env)

    def saw(self, step: Step) -> None:
        self.fossilized = self.fossilized or step.info["seeds_fossilized"] > 0


def play(env: gym.Env, seed: int, policy: str) -> dict[str, float]:
    """One episode of ``wait`` (the static host) or ``script``: test accuracy, return, growth."""
    script = _Script(env) if policy == "script" else None
    agent = script or make_policy("nogrow", env.unwrapped)
    result = run_episode(env, agent, seed, on_step=script.saw if script else None)
    return {
        "test_accuracy": result.test_accuracy,
        "return": sum(result.rewards, 0.0),
        "param_growth": result.param_growth,
    }


def compare(env_id: str, seeds: list[int], **kwargs: object) -> dict[str, list[dict[str, float]]]:
    env = gym.make(env_id, **kwargs)
    return {policy: [play(env, s, policy) for s in seeds] for policy in ("wait", "script")}


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
            f"  {policy:7} test accuracy {acc.mean:5.1f} ± {acc.half_width:4.1f} %   "
            f"return {ret.mean:+.3f} ± {ret.half_width:.3f}   param growth {growth:.2f}"
        )
    diff = mean_ci(
        [
            100 * (s["test_accuracy"] - w["test_accuracy"])
            for s, w in zip(results["script"], results["wait"], strict=True)
        ]
    )
    print(f"  script - wait: {diff.mean:+.1f} ± {diff.half_width:.1f} points (paired, 95% CI)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
