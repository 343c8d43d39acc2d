"""Probe 2: per-germination seed lr, bimodal (good/bad), reactive prune + retry."""

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym
import numpy as np

import kasmina.model as km
from envs.actions import ActionKind
from kasmina import SeedStage
from simic.common.seeding import training_seed
from simic.policies import Schedule, SchedulePolicy, run_episode
from simic.policies.base import WAIT_INDEX

GOOD, BAD, P_BAD = 3e-3, float(sys.argv[5]), 0.5
_orig = km.MorphogeneticModel._seed_optimizer


def _patched(self, module):
    import dataclasses

    if not hasattr(self, "_lr_rng"):
        self._lr_rng = np.random.default_rng(CURRENT_SEED[0])
    lr = BAD if self._lr_rng.random() < P_BAD else GOOD
    spec = self.seed_optimizer_spec
    self.seed_optimizer_spec = dataclasses.replace(spec, lr=lr)
    try:
        return _orig(self, module)
    finally:
        self.seed_optimizer_spec = spec


km.MorphogeneticModel._seed_optimizer = _patched
CURRENT_SEED = [0]


class Reactive(SchedulePolicy):
    th_hold, th_grow = -0.005, -0.02

    def choose(self, observation, action_masks):
        view = self.read(observation)
        prunes = [
            self.action(ActionKind.PRUNE, slot)
            for slot, s in view.slots.items()
            if s.stage.is_live
            and s.contribution is not None
            and s.stage is SeedStage.TRAINING
            and s.contribution < -0.15
        ]
        if prunes:
            c = self.first_valid([*prunes, WAIT_INDEX], action_masks)
            if c != WAIT_INDEX:
                step = round(view.budget_used * 25)
                if step <= 12:  # retry: allow the slot to be germinated again
                    self._germinated.discard(self.codec.decode(c).slot)
                return c
        return super().choose(observation, action_masks)


_E = {}


def play(job):
    inst, plan, react, k = job
    if inst not in _E:
        _E[inst] = gym.make(
            "simic/Grow-Family-v0", batches_per_step=int(os.environ.get("BPS", "8"))
        )
    env = _E[inst]
    CURRENT_SEED[0] = training_seed(k)
    pol = (Reactive if react else SchedulePolicy)(env, Schedule.parse(plan))
    r = run_episode(env, pol, training_seed(k), {"instance": inst})
    return job, float(sum(r.rewards, 0.0))


if __name__ == "__main__":
    insts = sys.argv[1].split(",")
    plans = [
        "none",
        "block0:conv_heavy@0+block1:attention@0",
        "block1:attention@0",
        "block1:conv_light@0",
        "block0:conv_light@0+block1:conv_heavy@0",
        "block0:conv_heavy@0",
    ]
    seeds = int(sys.argv[2])
    jobs = [
        (i, p, r, k)
        for i in insts
        for p in plans
        for r in (False, True)
        for k in range(int(sys.argv[3]), seeds)
        if not (r and p == "none")
    ]
    with ProcessPoolExecutor(2) as ex, open(sys.argv[4], "a") as f:
        for job, ret in ex.map(play, jobs):
            f.write(json.dumps([job[0], 0, *job[1:], ret]) + "\n")
            f.flush()
