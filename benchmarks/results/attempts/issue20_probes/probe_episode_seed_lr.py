"""Probe: hidden seed lr that makes every seed harmful, and a reactive prune rule."""

import json
import sys
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym

from envs.actions import ActionKind
from kasmina import SeedStage
from simic.common.seeding import training_seed
from simic.policies import Schedule, SchedulePolicy, run_episode
from simic.policies.base import WAIT_INDEX


class Reactive(SchedulePolicy):
    def choose(self, observation, action_masks):
        view = self.read(observation)
        prunes = [
            self.action(ActionKind.PRUNE, slot)
            for slot, s in view.slots.items()
            if s.stage.is_live
            and s.contribution is not None
            and (
                (s.stage is SeedStage.HOLDING and s.contribution <= 0)
                or (s.stage is SeedStage.BLENDING and s.contribution < -0.02)
            )
        ]
        if prunes:
            c = self.first_valid([*prunes, WAIT_INDEX], action_masks)
            if c != WAIT_INDEX:
                return c
        return super().choose(observation, action_masks)


_E = {}


def play(job):
    inst, lr, plan, react, k = job
    key = (inst, lr)
    if key not in _E:
        _E[key] = gym.make("simic/Grow-Family-v0", seed_lr=lr)
    env = _E[key]
    pol = (Reactive if react else SchedulePolicy)(env, Schedule.parse(plan))
    r = run_episode(env, pol, training_seed(k), {"instance": inst})
    return job, float(sum(r.rewards, 0.0))


if __name__ == "__main__":
    insts = sys.argv[1].split(",")
    lrs = [float(x) for x in sys.argv[2].split(",")]
    plans = [
        "none",
        "block0:conv_heavy@0+block1:attention@0",
        "block1:attention@0",
        "block1:conv_light@0",
        "block0:conv_light@0+block1:conv_heavy@0",
        "block0:conv_heavy@0",
    ]
    seeds = int(sys.argv[3])
    jobs = [
        (i, lr, p, r, k)
        for i in insts
        for lr in lrs
        for p in plans
        for r in (False, True)
        for k in range(seeds)
        if not (r and p == "none")
    ]
    with ProcessPoolExecutor(2) as ex, open(sys.argv[4], "a") as f:
        for job, ret in ex.map(play, jobs):
            f.write(json.dumps([*job, ret]) + "\n")
            f.flush()
