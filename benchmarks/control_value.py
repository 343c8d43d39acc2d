"""The control value of a task family: what closed-loop information is worth over a plan.

Issue 20, item 1. A plan (a :class:`~simic.policies.Schedule`: what to germinate where and
when, each seed fossilized as soon as it holds) sees the instance and the step count, nothing
that training shows. Per instance, over a space of schedules and a set of episode seeds:

* **hindsight value** = mean over seeds of the best schedule *for that seed* minus the best
  schedule on average. No controller can beat the per-seed oracle, so this is an upper bound
  on what reacting can win over the per-instance plan (noise inflates it: the oracle also
  knows each seed's luck).
* **value of knowing the hidden factor** (variants with one): the best schedule per value of
  the factor minus the best single schedule over all values, cross-fitted (each best is chosen
  on half the seeds and scored on the other half, both ways), so the max over noisy means does
  not inflate it. A controller that infers the factor from training can reach this by
  playing the right plan once it knows; it is the value the family offers to reacting.

Both come with 95% bootstrap CIs over episode seeds (``scipy.stats.bootstrap``, percentile).
A variant is kept for a reacting family if its value of knowing is >= ``KEEP`` (0.04) on most
of its instances (issue 20, item 2).

Variants (:data:`VARIANTS`):
* ``family``: ``simic/Grow-Family-v0`` as it is (nothing hidden): its hindsight value. Its
  episodes come from ``results/tuning_episodes.jsonl`` where they were played already.
* ``hidden-lr``: the host's learning rate (1e-3, 3e-3, 1e-2), unobserved;
* ``hidden-lr-rent0.15``: the same at the price 0.15, where growth that does not pay costs;
* ``hidden-data``: the training-set size (10%, 30%, 100% of the split), unobserved;
* ``class-shift``: class-incremental MNIST-1D, classes 5..9 arriving at an unobserved step
  (4, 12 or 20 of 25);
* ``hidden-seed-lr``: the seeds' learning rate (1e-4, 1e-3, 1e-2): how well a new module
  trains, which only its measured contribution shows; at the rents 0.05 and 0.15.

Every episode is appended to ``results/control_value_episodes.jsonl`` as it finishes (an
interrupted run resumes); the report is written atomically to ``results/control_value.{json,md}``.

Usage::

    python -m benchmarks.control_value [--variant hidden-lr ...] [--seeds 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import stats

import envs  # registers the ids; envs.FAMILIES
from benchmarks.common.episode_log import play_logged, read_log
from benchmarks.tune_baselines import EPISODES_FILE as TUNING_FILE
from benchmarks.tune_baselines import schedule_candidates
from envs.atomic import atomic_write_text
from simic.common.seeding import training_seed
from simic.policies import Schedule, SchedulePolicy, run_episode

RESULTS = Path(__file__).resolve().parent / "results"
EPISODES_FILE = RESULTS / "control_value_episodes.jsonl"
KEEP = 0.04
HIDDEN = "hidden"  # a Variant's factor when it is the family's own hidden factors
CONFIDENCE = 0.95
RESAMPLES = 2000


def widened_schedules() -> list[str]:
    """The hidden variants' space: none; one seed (either slot x conv_light, conv_heavy,
    attention) germinated at step 0, 8 or 16; two seeds (block0 conv_heavy or conv_light with
    block1 conv_light, conv_heavy or attention) at step 0, or both at step 8. Later germinations
    are there because waiting to see is what a hidden factor may call for."""
    singles = [
        f"{slot}:{bp}@{step}"
        for slot in ("block0", "block1")
        for bp in ("conv_light", "conv_heavy", "attention")
        for step in (0, 8, 16)
    ]
    pairs = [
        f"block0:{a}@{step}+block1:{b}@{step}"
        for a, b in (("conv_heavy", "conv_light"), ("conv_heavy", "attention"))
        for step in (0, 8)
    ]
    pairs += ["block0:conv_light@0+block1:conv_heavy@0", "block0:conv_light@0+block1:attention@0"]
    return ["none", *singles, *pairs]


@dataclass(frozen=True)
class Variant:
    """A family (or a variant of one) whose control value is measured.

    Attributes:
        name: Its name in the results.
        env_id: The family's Gymnasium id.
        instances: The instances measured (names; all of the family's when empty).
        factor: The hidden env keyword, or ``None`` (nothing hidden).
        values: The factor's values, each played with every schedule and seed.
        fixed: Env keywords every episode of the variant gets.
        schedules: The schedule space.
        description: One line for the report.
    """

    name: str
    env_id: str
    instances: tuple[str, ...] = ()
    factor: str | None = None
    values: tuple[Any, ...] = (None,)
    fixed: dict[str, Any] = field(default_factory=dict)
    schedules: Callable[[], list[str]] = widened_schedules
    description: str = ""

    def instance_names(self) -> tuple[str, ...]:
        return self.instances or envs.FAMILIES[self.env_id].names

    def env_kwargs(self, value: Any) -> dict[str, Any]:
        """The env's keywords for an episode at factor value ``value``."""
        if self.factor in (None, HIDDEN):
            return dict(self.fixed)
        return {**self.fixed, self.factor: value}

    def options(self, instance: str, value: Any) -> dict[str, Any]:
        """The episode's reset options: its instance, and its hidden values where pinned."""
        return {"instance": instance, **({"hidden": value} if self.factor == HIDDEN else {})}

    @classmethod
    def of_family(cls, name: str, env_id: str) -> Variant:
        """A registered family as it is: its hidden factors (if any) are the factor, every
        combination of their values one value of it, pinned per episode."""
        family = envs.FAMILIES[env_id]
        if not family.hidden:
            return cls(name, env_id, description=f"{env_id} as registered (nothing hidden)")
        combos = itertools.product(*(h.values for h in family.hidden))
        values = tuple(
            {h.keyword: v for h, v in zip(family.hidden, combo, strict=True)} for combo in combos
        )
        return cls(name, env_id, factor=HIDDEN, values=values, description=family.description)


_MID = ("mnist1d-w8x16-rent0.05", "mnist1d-w16x32-rent0.05", "mnist1d-w4x8-rent0.05")
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "family",
            "simic/Grow-Family-v0",
            schedules=schedule_candidates,
            description="Grow-Family-v0 as registered (nothing hidden)",
        ),
        Variant(
            "hidden-lr",
            "simic/Grow-Family-v0",
            _MID,
            "host_lr",
            (1e-3, 3e-3, 1e-2),
            description="host learning rate 1e-3 / 3e-3 / 1e-2, unobserved",
        ),
        Variant(
            "hidden-lr-rent0.15",
            "simic/Grow-Family-v0",
            ("mnist1d-w8x16-rent0.15", "mnist1d-w16x32-rent0.15", "mnist1d-w4x8-rent0.15"),
            "host_lr",
            (1e-3, 3e-3, 1e-2),
            description="host learning rate 1e-3 / 3e-3 / 1e-2, unobserved, at the high price",
        ),
        Variant(
            "hidden-data",
            "simic/Grow-Family-v0",
            _MID,
            "train_fraction",
            (0.1, 0.3, 1.0),
            description="training-set size 10% / 30% / 100% of the split, unobserved",
        ),
        Variant(
            "hidden-seed-lr",
            "simic/Grow-Family-v0",
            ("mnist1d-w8x16-rent0.05", "mnist1d-w8x16-rent0.15", "mnist1d-w16x32-rent0.15"),
            "seed_lr",
            (1e-4, 1e-3, 1e-2),
            description="seeds' learning rate 1e-4 / 1e-3 / 1e-2 (how well a new module "
            "trains), unobserved",
        ),
        Variant(
            "class-shift",
            "simic/Grow-Family-v0",
            _MID,
            "class_shift_step",
            (4, 12, 20),
            fixed={"early_classes": 5},
            description="classes 5-9 arrive at step 4 / 12 / 20 of 25, unobserved",
        ),
    )
}


# ------------------------------------------------------------------------------ statistics
def hindsight_value(returns: np.ndarray) -> float:
    """``returns`` (schedules, episodes): mean of the per-episode best minus the best mean."""
    return float(returns.max(axis=0).mean() - returns.mean(axis=1).max())


def factor_value(returns: np.ndarray) -> float:
    """``returns`` (values, schedules, seeds), seeds >= 2: the best schedule per factor value
    minus the best single schedule, each chosen on one half of the seeds and scored on the
    other (both ways, averaged)."""
    seeds = returns.shape[2]
    halves = (np.arange(0, seeds, 2), np.arange(1, seeds, 2))
    gains = []
    for pick, score in (halves, halves[::-1]):
        chosen = returns[:, :, pick].mean(axis=2)  # (values, schedules)
        scored = returns[:, :, score].mean(axis=2)
        per_value = scored[np.arange(len(scored)), chosen.argmax(axis=1)].mean()
        one = scored[:, chosen.mean(axis=0).argmax()].mean()
        gains.append(per_value - one)
    return float(np.mean(gains))


def with_ci(statistic: Callable[[np.ndarray], float], returns: np.ndarray) -> dict[str, float]:
    """``statistic(returns)`` and its bootstrap CI over the last axis (episode seeds)."""
    seeds = np.arange(returns.shape[-1])
    result = stats.bootstrap(
        (seeds,),
        lambda idx: statistic(returns[..., idx.astype(int)]),
        vectorized=False,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(0),
    )
    low, high = result.confidence_interval
    return {"value": statistic(returns), "low": float(low), "high": float(high)}


# ------------------------------------------------------------------------------ episodes
def _key(variant: str, instance: str, value: Any, schedule: str, seed: int, kw: Any) -> str:
    return json.dumps([variant, instance, value, schedule, seed, kw], sort_keys=True)


_ENVS: dict[str, gym.Env] = {}


def play(job: tuple[Any, ...]) -> dict[str, Any]:
    """One episode's row: its key and return."""
    variant, instance, value, schedule, seed, budget_kwargs = job
    kwargs = {**variant.env_kwargs(value), **budget_kwargs}
    name = json.dumps([variant.env_id, kwargs], sort_keys=True)
    if name not in _ENVS:
        _ENVS[name] = gym.make(variant.env_id, **kwargs)
    env = _ENVS[name]
    policy = SchedulePolicy(env, Schedule.parse(schedule))
    result = run_episode(env, policy, seed, variant.options(instance, value))
    return {"key": _key(variant.name, *job[1:]), "return": float(sum(result.rewards, 0.0))}


def jobs(variant: Variant, seeds: int, budget_kwargs: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for instance in variant.instance_names():
        for value in variant.values:
            for schedule in variant.schedules():
                for k in range(seeds):
                    yield variant, instance, value, schedule, training_seed(k), budget_kwargs


def played() -> dict[str, float]:
    """Every kept episode's return, by key: this benchmark's and the tuning run's (the
    ``family`` variant's episodes, when the tuning run played them with the same settings)."""
    done = {k: row["return"] for k, row in read_log(EPISODES_FILE).items()}
    for key, row in read_log(TUNING_FILE).items():
        done.update(_from_tuning(key, row["return"]))
    return done


def _from_tuning(key: str, ret: float) -> dict[str, float]:
    policy, instance, schedule, seed, kwargs = json.loads(key)
    if policy != "schedule-best":
        return {}
    return {_key("family", instance, None, schedule, seed, kwargs): ret}


def run(todo: Sequence[tuple[Any, ...]], workers: int, done: dict[str, float]) -> None:
    """Play the episodes ``todo`` on ``workers`` processes, appending each to the log."""
    print(f"{len(done)} episodes kept, {len(todo)} to play on {workers} worker(s)", flush=True)
    for row in play_logged(play, todo, workers, EPISODES_FILE):
        done[row["key"]] = row["return"]


# ------------------------------------------------------------------------------ report
def returns_of(
    variant: Variant, instance: str, seeds: int, done: dict[str, float], budget: dict[str, Any]
) -> np.ndarray:
    """(values, schedules, seeds) returns of one instance (``KeyError`` if one is missing)."""
    schedules = variant.schedules()
    return np.array(
        [
            [
                [
                    done[_key(variant.name, instance, v, s, training_seed(k), budget)]
                    for k in range(seeds)
                ]
                for s in schedules
            ]
            for v in variant.values
        ]
    )


def measure_instance(variant: Variant, returns: np.ndarray) -> dict[str, Any]:
    """The control values of one instance's returns (values, schedules, seeds)."""
    schedules = variant.schedules()
    means = returns.mean(axis=2)  # (values, schedules)
    row: dict[str, Any] = {
        # every (value, seed) is one episode condition of the hindsight oracle
        "hindsight": with_ci(
            lambda r: hindsight_value(r.transpose(1, 0, 2).reshape(r.shape[1], -1)), returns
        ),
        "best_schedule": schedules[int(means.mean(axis=0).argmax())],
        "best_return": float(means.mean(axis=0).max()),
    }
    if variant.factor is not None:
        row["knowing"] = with_ci(factor_value, returns)
        row["best_per_value"] = {
            _label(v): [schedules[int(means[i].argmax())], float(means[i].max())]
            for i, v in enumerate(variant.values)
        }
    return row


def measure_variant(
    variant: Variant, seeds: int, done: dict[str, float], budget: dict[str, Any]
) -> dict[str, Any]:
    returns = {
        name: returns_of(variant, name, seeds, done, budget) for name in variant.instance_names()
    }
    instances = {name: measure_instance(variant, r) for name, r in returns.items()}
    report: dict[str, Any] = {
        "description": variant.description,
        "factor": variant.factor,
        "values": list(variant.values),
        "fixed": variant.fixed,
        "schedules": len(variant.schedules()),
        "seeds": seeds,
        "instances": instances,
    }
    if variant.factor is not None:
        big = sum(row["knowing"]["value"] >= KEEP for row in instances.values())
        report["kept"] = big > len(instances) / 2
    if variant.factor is None and len(returns) > 1:
        # The instance as the factor: what observing it is worth over one plan for all
        # (cross-fitted like a hidden factor's value).
        stacked = np.stack([r[0] for r in returns.values()])  # (instances, schedules, seeds)
        report["context"] = with_ci(factor_value, stacked)
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        "# Control value: what reacting can win over the best plan, per instance",
        "",
        "Hindsight: mean over episodes of the best schedule for that episode minus the best",
        "schedule on average (an upper bound; noise inflates it). Knowing: best schedule per",
        "value of the hidden factor minus the best single schedule, cross-fitted over seed",
        f"halves. [95% bootstrap CI over seeds]. A variant is kept if knowing >= {KEEP} on most",
        "instances.",
    ]
    for name, variant in report["variants"].items():
        kept = variant.get("kept")
        verdict = "" if kept is None else (" - **kept**" if kept else " - not kept")
        lines += [
            "",
            f"## {name}: {variant['description']}{verdict}",
            "",
            f"{variant['schedules']} schedules x {variant['seeds']} seeds"
            + (f" x {len(variant['values'])} values" if variant["factor"] else ""),
            "",
            *(
                [
                    "Knowing the instance (one plan per instance against one plan for all, "
                    f"cross-fitted): {_ci_text(variant['context'])}",
                    "",
                ]
                if "context" in variant
                else []
            ),
            "| instance | hindsight | knowing the factor | best plan (return) | best per value |",
            "|---|---|---|---|---|",
        ]
        for instance, row in variant["instances"].items():
            knowing = _ci_text(row["knowing"]) if "knowing" in row else "-"
            per_value = "; ".join(
                f"{v}: {s} ({r:.3f})" for v, (s, r) in row.get("best_per_value", {}).items()
            )
            lines.append(
                f"| {instance} | {_ci_text(row['hindsight'])} | {knowing} | "
                f"{row['best_schedule']} ({row['best_return']:.3f}) | {per_value or '-'} |"
            )
    return "\n".join(lines) + "\n"


def _label(value: Any) -> str:
    """A factor value as the report shows it (``host_lr=0.001 class_shift_step=4``)."""
    if isinstance(value, dict):
        return " ".join(f"{k}={v:g}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ci_text(ci: dict[str, float]) -> str:
    return f"{ci['value']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), default=None)
    parser.add_argument("--seeds", type=int, default=6, help="episode seeds per cell (>= 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=None, help="episode budget (env default)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2 (cross-fitting halves), got {args.seeds}")
    budget = {} if args.budget is None else {"budget": args.budget}
    chosen = [VARIANTS[v] for v in args.variant or VARIANTS]
    done = played()
    todo = [
        j for v in chosen for j in jobs(v, args.seeds, budget) if _key(v.name, *j[1:]) not in done
    ]
    run(todo, args.workers, done)
    report = {
        "settings": {"seeds": args.seeds, "budget": args.budget},
        "variants": {v.name: measure_variant(v, args.seeds, done, budget) for v in chosen},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "control_value" if args.budget is None else f"control_value_budget{args.budget}"
    atomic_write_text(args.out / f"{name}.json", json.dumps(report, indent=2))
    text = table(report)
    atomic_write_text(args.out / f"{name}.md", text)
    print(text)
    return report


if __name__ == "__main__":
    main()
