import json
import sys
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym

import envs  # noqa: F401 - registers the ids
from simic.common.seeding import training_seed
from simic.policies import Schedule, SchedulePolicy, run_episode

_E = {}


def play(job):
    inst, bps, plan, k = job
    if bps not in _E:
        _E[bps] = gym.make("simic/Grow-Family-v0", batches_per_step=bps)
    env = _E[bps]
    r = run_episode(
        env, SchedulePolicy(env, Schedule.parse(plan)), training_seed(k), {"instance": inst}
    )
    return (
        job,
        float(sum(r.rewards, 0.0)),
        r.final_test_accuracy if hasattr(r, "final_test_accuracy") else None,
    )


if __name__ == "__main__":
    plans = [
        "none",
        "block0:conv_heavy@0+block1:attention@0",
        "block0:conv_heavy@0+block1:conv_heavy@0",
        "block1:attention@0",
    ]
    jobs = [
        (i, b, p, k)
        for i in sys.argv[1].split(",")
        for b in (8, 32)
        for p in plans
        for k in range(3)
    ]
    with ProcessPoolExecutor(2) as ex, open(sys.argv[2], "a") as f:
        for job, ret, acc in ex.map(play, jobs):
            f.write(json.dumps([*job, ret, acc]) + "\n")
            f.flush()
