"""Tune the per-instance baselines on training seeds: the best schedule and the tuned heuristic.

For every instance of the training and held-out task families, every candidate plays the same
tuning episodes; the candidate with the highest mean return wins that instance. Tuning seeds
are ``training_seed(k)`` = ``10**9 + k`` (inside the training range of
:mod:`simic.common.seeding`), so they never meet an evaluation seed (below ``10**9``). The
winners are written, atomically, to the tables the ``schedule-best`` and ``heuristic-tuned``
policies read (``simic/policies/tuned/``); every played episode is kept in
``benchmarks/results/tuning_episodes.jsonl``, so an interrupted run resumes where it stopped.

Candidates:
- schedules: none; one seed (block0 or block1 x each blueprint x germinated at step 0 or 6);
  two seeds (one per slot, every blueprint pair, at step 0). Every seed is fossilized when
  HOLDING and nothing is pruned.
- heuristic: base_seeds {0, 1, 2} x max_seed_ratio {0.5, 2} x fossilize_above {0.05, 0.15}.

Usage::

    python -m benchmarks.tune_baselines [--seeds 4] [--workers 2] [--budget N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym

import envs
from benchmarks.common.episode_log import play_logged, read_log
from envs.tasks import CNN_BLUEPRINTS
from simic.common.seeding import training_seed
from simic.policies import (
    HeuristicPolicy,
    Policy,
    Schedule,
    SchedulePolicy,
    TunedTable,
    run_episode,
)
from simic.policies.tuned import TABLE_DIR

RESULTS = Path(__file__).resolve().parent / "results"
EPISODES_FILE = RESULTS / "tuning_episodes.jsonl"
FAMILY_IDS = ("simic/Grow-Family-v0", "simic/Grow-Family-HeldOut-v0")
SLOTS = ("block0", "block1")


def schedule_candidates() -> list[str]:
    singles = [f"{slot}:{bp}@{step}" for slot in SLOTS for bp in CNN_BLUEPRINTS for step in (0, 6)]
    pairs = [f"block0:{a}@0+block1:{b}@0" for a in CNN_BLUEPRINTS for b in CNN_BLUEPRINTS]
    return ["none", *singles, *pairs]


def heuristic_candidates() -> list[dict[str, Any]]:
    grid = itertools.product((0, 1, 2), (0.5, 2.0), (0.05, 0.15))
    return [{"base_seeds": b, "max_seed_ratio": r, "fossilize_above": f} for b, r, f in grid]


def _key(policy: str, instance: str, candidate: Any, seed: int, env_kwargs: Any) -> str:
    # env kwargs in the key: episodes of another budget are never mixed into these scores
    return json.dumps([policy, instance, candidate, seed, env_kwargs], sort_keys=True)


_ENVS: dict[str, gym.Env] = {}


def play(job: tuple[str, str, str, Any, int, dict[str, Any]]) -> dict[str, Any]:
    """One tuning episode's row: its key, return and test accuracy."""
    family, policy, instance, candidate, seed, env_kwargs = job
    if family not in _ENVS:
        _ENVS[family] = gym.make(family, **env_kwargs)
    env = _ENVS[family]
    if policy == "schedule-best":
        agent: Policy = SchedulePolicy(env, Schedule.parse(candidate))
    else:
        agent = HeuristicPolicy(env, **candidate)
    result = run_episode(env, agent, seed, {"instance": instance})
    return {
        "key": _key(policy, instance, candidate, seed, env_kwargs),
        "return": sum(result.rewards, 0.0),
        "test_accuracy": result.test_accuracy,
    }


def jobs(seeds: int, env_kwargs: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    candidates = {"schedule-best": schedule_candidates(), "heuristic-tuned": heuristic_candidates()}
    for family_id in FAMILY_IDS:
        for instance in envs.FAMILIES[family_id].instances:
            for policy, options in candidates.items():
                for candidate in options:
                    for k in range(seeds):
                        seed = training_seed(k)
                        yield family_id, policy, instance.name, candidate, seed, env_kwargs


def _done() -> dict[str, tuple[float, float]]:
    return {k: (r["return"], r["test_accuracy"]) for k, r in read_log(EPISODES_FILE).items()}


def run(seeds: int, workers: int, env_kwargs: dict[str, Any]) -> dict[str, tuple[float, float]]:
    done = _done()
    todo = [j for j in jobs(seeds, env_kwargs) if _key(*j[1:]) not in done]
    print(f"{len(done)} tuning episodes kept, {len(todo)} to play on {workers} worker(s)")
    for row in play_logged(play, todo, workers, EPISODES_FILE):
        done[row["key"]] = (row["return"], row["test_accuracy"])
    return done


def best_tables(
    done: dict[str, tuple[float, float]], seeds: int, env_kwargs: dict[str, Any]
) -> list[TunedTable]:
    scores: dict[tuple[str, str], dict[str, list[float]]] = {}
    tuning_seeds = {training_seed(k) for k in range(seeds)}
    for key, (ret, _) in done.items():
        policy, instance, candidate, seed, kwargs = json.loads(key)
        if seed in tuning_seeds and kwargs == env_kwargs:
            cell = scores.setdefault((policy, instance), {})
            cell.setdefault(json.dumps(candidate, sort_keys=True), []).append(ret)
    tables = []
    for policy in ("schedule-best", "heuristic-tuned"):
        entries, best_scores = {}, {}
        for (name, instance), cell in sorted(scores.items()):
            if name != policy:
                continue
            full = {c: statistics.fmean(r) for c, r in cell.items() if len(r) == seeds}
            winner = max(sorted(full), key=full.__getitem__)
            entries[instance], best_scores[instance] = json.loads(winner), full[winner]
        tuning = {"seeds": [training_seed(k) for k in range(seeds)], "env_kwargs": env_kwargs}
        tables.append(TunedTable(policy, entries, best_scores, tuning))
    return tables


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="tuning episodes per candidate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=None, help="episode budget (env default)")
    args = parser.parse_args(argv)
    env_kwargs = {} if args.budget is None else {"budget": args.budget}
    done = run(args.seeds, args.workers, env_kwargs)
    for table in best_tables(done, args.seeds, env_kwargs):
        path = table.save(TABLE_DIR / f"{table.policy}.json")
        print(f"wrote {path}")
        for instance, setting in table.entries.items():
            print(f"  {instance:<28} {table.scores[instance]:+.3f}  {setting}")


if __name__ == "__main__":
    main()
