"""What does one env step cost, with and without live seeds? (issue 9, item 1)

Three episode kinds on the default MNIST-1D env, measured side by side in one run:

* ``wait``       WAIT at every step (the bare host);
* ``one_seed``   GERMINATE(block1, conv_light) at step 1, then WAIT (the seed stays live);
* ``two_seeds``  GERMINATE(block0, conv_light) at step 1 and (block1, conv_light) at step 2.

Seeds are never fossilized, so from step 3 on every step trains and measures live seeds (steps
3..25 are TRAINING, BLENDING and HOLDING alike). For each kind it reports the mean over steps
``--first-step``..budget of ``--episodes`` episodes of ``info["timing"]`` (``record_timing=True``,
one torch thread): training batches, validation + counterfactuals + rest, whole step; plus

(a) the counterfactual share: the validation + counterfactual pass, timed through the env's
    public seam ``env.unwrapped.stepping`` (:mod:`envs.stepping`), replaced on the instance by
    a :class:`TimedStepping` that delegates to it; a compared tree older than that seam reports
    the share as ``null``;
(b) the training batches split into host and seeds, from separate *instrumented* episodes (hooks
    cost microseconds, so they never touch the timed episodes). Through public attributes only:
    forward hooks on each live ``slot.seed`` (counted only with grad enabled, i.e. training),
    its backward from a pre-hook on the seed output's ``grad_fn`` to the last
    ``register_post_accumulate_grad_hook`` of its parameters (autograd runs a seed's nodes
    contiguously: they are newer than the host block before them and older than the one after),
    and step hooks on ``slot.optimizer`` and ``model.host_optimizer``. "host and rest" is the
    training time minus the seeds' part. The difference to the ``wait`` episodes is reported too.

Episodes alternate: episode k runs every kind in turn, and with two implementations each kind
runs on both, in an order that rotates with k. Ratios are medians of per-episode ratios.

Comparing two implementations (items 2 and 3 against today's code)::

    python -m benchmarks.step_cost --compare-ref HEAD~1      # a git worktree of that commit
    python -m benchmarks.step_cost --compare-tree /work/main  # any checkout

Each implementation then runs in its own long-lived worker process whose ``PYTHONPATH`` is the
tree's root, so ``envs``/``kasmina`` come from that tree while this script drives both.
Results: ``benchmarks/results/step_cost.json`` (written atomically). Run it from the repository
root as ``python -m benchmarks.step_cost`` so that ``envs`` is this tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from benchmarks.common.machine import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "step_cost.json"
SCENARIOS: dict[str, list[tuple[str, str]]] = {
    "wait": [],
    "one_seed": [("block1", "conv_light")],
    "two_seeds": [("block0", "conv_light"), ("block1", "conv_light")],
}
MARK = "@@step_cost "  # worker answers carry it: stray prints on stdout cannot be mistaken
Sample = dict[str, Any]


# ----------------------------------------------------------------------------- one episode
class TimedStepping:
    """Wraps an env's ``stepping`` (:class:`envs.stepping.Stepping`) and times its ``measure``.

    Duck-typed rather than a subclass, so that this script can drive a compared tree's
    ``envs`` without importing that module first; it only delegates, so the numbers the env
    computes do not change.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent: list[float] = []

    def train(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.train(*args, **kwargs)

    def measure(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.measure(*args, **kwargs)
        finally:
            self.spent.append(time.perf_counter() - t0)


def _time_measurements(base: Any) -> list[float] | None:
    """Seconds of each validation + counterfactual pass of ``base`` (None: no public seam)."""
    inner = getattr(base, "stepping", None)
    if inner is None:  # a tree from before envs.stepping
        return None
    timed = TimedStepping(inner)
    base.stepping = timed  # an instance attribute shadows the class default
    return timed.spent


def run_episode(
    env_id: str, scenario: str, seed: int, budget: int, instrument: bool
) -> list[Sample]:
    """Per-step timings (seconds) of one episode of ``scenario``."""
    import gymnasium as gym

    import envs

    torch.set_num_threads(1)
    env = gym.make(env_id, budget=budget, record_timing=True)
    env.reset(seed=seed)
    base = env.unwrapped
    cf_times = _time_measurements(base)
    probe = SeedProbe() if instrument else None
    plan = [
        base.encode_action(envs.GrowthAction(envs.ActionKind.GERMINATE, slot, bp))
        for slot, bp in SCENARIOS[scenario]
    ]
    samples, terminated = [], False
    while not terminated:
        action = plan[len(samples)] if len(samples) < len(plan) else 0
        done_cf = len(cf_times) if cf_times is not None else 0
        if probe is not None:
            probe.attach(base.model)
        _, _, terminated, _, info = env.step(action)
        sample = {"step": info["step"], **info["timing"]}
        sample["cf_s"] = sum(cf_times[done_cf:]) if cf_times is not None else None
        sample["live"] = sum(base.model.slot(s).stage.is_live for s in base.slots)
        if probe is not None:
            sample.update(probe.collect())
        samples.append(sample)
    env.close()
    return samples


class SeedProbe:
    """Hooks that time the live seeds' share of the training batches (public attributes only)."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(("seed_fwd_s", "seed_bwd_s", "seed_opt_s", "host_opt_s"), 0.0)
        self._seen: set[int] = set()
        self._bwd: dict[int, list[float]] = {}  # id(seed) -> [start, last accumulate]

    def attach(self, model: Any) -> None:
        """Hook seeds and optimizers not hooked yet (seeds appear at germination)."""
        self._hook_optimizer(model.host_optimizer, "host_opt_s")
        for slot in model.iter_slots():
            if slot.seed is not None and id(slot.seed) not in self._seen:
                self._seen.add(id(slot.seed))
                self._hook_seed(slot.seed)
            if slot.optimizer is not None:
                self._hook_optimizer(slot.optimizer, "seed_opt_s")

    def collect(self) -> dict[str, float]:
        for key in list(self._bwd):
            self._flush(key)
        out, self.totals = self.totals, dict.fromkeys(self.totals, 0.0)
        return out

    def _hook_optimizer(self, opt: torch.optim.Optimizer, bucket: str) -> None:
        if id(opt) in self._seen:
            return
        self._seen.add(id(opt))
        started: list[float] = []
        opt.register_step_pre_hook(lambda *_: started.append(time.perf_counter()))
        opt.register_step_post_hook(lambda *_: self._add(bucket, started.pop()))

    def _hook_seed(self, seed: torch.nn.Module) -> None:
        key, started = id(seed), [0.0]

        def pre(*_: Any) -> None:
            started[0] = time.perf_counter()

        def post(_m: Any, _i: Any, out: torch.Tensor) -> None:
            if not torch.is_grad_enabled():  # validation and counterfactual passes
                return
            self._add("seed_fwd_s", started[0])
            if out.grad_fn is not None:
                out.grad_fn.register_prehook(lambda _g: self._backward_starts(key))

        seed.register_forward_pre_hook(pre)
        seed.register_forward_hook(post)
        for p in seed.parameters():
            p.register_post_accumulate_grad_hook(lambda _p: self._backward_step(key))

    def _backward_starts(self, key: int) -> None:
        self._flush(key)
        now = time.perf_counter()
        self._bwd[key] = [now, now]

    def _backward_step(self, key: int) -> None:
        if key in self._bwd:
            self._bwd[key][1] = time.perf_counter()

    def _flush(self, key: int) -> None:
        span = self._bwd.pop(key, None)
        if span is not None:
            self.totals["seed_bwd_s"] += span[1] - span[0]

    def _add(self, bucket: str, since: float) -> None:
        self.totals[bucket] += time.perf_counter() - since


# ----------------------------------------------------------------------------- runners
class InProcess:
    """Runs episodes in this process, with whatever ``envs`` this interpreter imports."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> dict[str, Any]:
        import envs

        return {"name": self.name, "envs_file": envs.__file__, "tree": str(ROOT)}

    def episode(self, request: dict[str, Any]) -> list[Sample]:
        return run_episode(**request)

    def close(self) -> None:
        pass


class Worker:
    """A long-lived ``--worker`` process whose ``envs``/``kasmina`` come from ``tree``.

    The worker runs this file with only ``tree`` on its path, which may be a checkout from
    before ``benchmarks.common`` existed: so this module imports the project's code only where
    the parent alone runs it (here, :func:`ref_worktree`, :func:`write_json`).
    """

    def __init__(self, name: str, tree: Path) -> None:
        from benchmarks.common import procs

        self.name, self.tree = name, tree
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        env = procs.child_env(tree, {"OMP_NUM_THREADS": "1"})
        self.worker = procs.JsonWorker(argv, MARK, cwd=tree, env=env)

    def describe(self) -> dict[str, Any]:
        from benchmarks.common import procs

        answer = self.worker.ask({"describe": True})
        return {"name": self.name, **answer, "commit": procs.git(self.tree, "rev-parse", "HEAD")}  # type: ignore[dict-item]

    def episode(self, request: dict[str, Any]) -> list[Sample]:
        return self.worker.ask(request)  # type: ignore[return-value]

    def close(self) -> None:
        self.worker.close()


def worker_loop() -> int:
    """Answer JSON requests on stdin, one per line, until stdin closes."""
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("describe"):
            import envs

            answer: Any = {"envs_file": envs.__file__, "tree": os.getcwd()}
        else:
            answer = run_episode(**request)
        print(MARK + json.dumps(answer), flush=True)
    return 0


@contextmanager
def ref_worktree(ref: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``ref`` in a temporary folder, removed afterwards."""
    from benchmarks.common import procs

    path = Path(tempfile.mkdtemp(prefix="step-cost-ref-"))
    added = procs.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), ref]
    )
    if added.returncode != 0:
        raise RuntimeError(f"git worktree add {ref} failed: {added.stderr.strip()}")
    try:
        yield path
    finally:
        procs.git(ROOT, "worktree", "remove", "--force", str(path))


# ----------------------------------------------------------------------------- summaries
def _mean(samples: list[Sample], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return 1e3 * statistics.fmean(values) if values else None


def summarise(episodes: list[list[Sample]], first_step: int) -> dict[str, Any]:
    """Mean ms over steps >= first_step of all episodes, and the shares of the step."""
    kept = [s for ep in episodes for s in ep if s["step"] >= first_step]
    for s in kept:
        s["rest_s"] = s["step_s"] - s["train_s"]
    out: dict[str, Any] = {
        "train_ms": _mean(kept, "train_s"),
        "val_cf_rest_ms": _mean(kept, "rest_s"),
        "step_ms": _mean(kept, "step_s"),
        "counterfactual_ms": _mean(kept, "cf_s"),
        "steps": len(kept),
        "live_seeds_mean": statistics.fmean(s["live"] for s in kept),
    }
    out["val_cf_rest_share"] = out["val_cf_rest_ms"] / out["step_ms"]
    cf = out["counterfactual_ms"]
    out["counterfactual_share"] = None if cf is None else cf / out["step_ms"]
    return out


def split_training(episodes: list[list[Sample]], first_step: int) -> dict[str, Any]:
    """Seeds' and host's part of the training batches, from the instrumented episodes."""
    kept = [s for ep in episodes for s in ep if s["step"] >= first_step]
    parts = {k: _mean(kept, k) for k in ("seed_fwd_s", "seed_bwd_s", "seed_opt_s", "host_opt_s")}
    seeds = sum(parts[k] or 0.0 for k in ("seed_fwd_s", "seed_bwd_s", "seed_opt_s"))
    train = _mean(kept, "train_s") or 0.0
    return {
        "train_ms_instrumented": train,
        "seeds_ms": seeds,
        "host_and_rest_ms": train - seeds,
        **{k.replace("_s", "_ms"): v for k, v in parts.items()},
    }


def episode_ratios(
    raw: dict[str, dict[str, list[list[Sample]]]], first_step: int, base: str, other: str
) -> dict[str, float]:
    """Per scenario: median over episodes of (other's mean step time / base's)."""
    out = {}
    for scenario in raw[base]:
        pairs = zip(raw[base][scenario], raw[other][scenario], strict=True)
        ratios = [_episode_step(o, first_step) / _episode_step(b, first_step) for b, o in pairs]
        out[scenario] = statistics.median(ratios)
    return out


def _episode_step(samples: list[Sample], first_step: int) -> float:
    return statistics.fmean(s["step_s"] for s in samples if s["step"] >= first_step)


# ----------------------------------------------------------------------------- driver
def measure(runners: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    """Interleaved episodes of every scenario on every runner; instrumented ones last."""
    names = [r.name for r in runners]
    raw: dict[str, dict[str, list[list[Sample]]]] = {n: {s: [] for s in SCENARIOS} for n in names}
    probed: dict[str, dict[str, list[list[Sample]]]] = {n: {} for n in names}
    for k in range(args.episodes):
        for scenario in SCENARIOS:
            for runner in _rotated(runners, k):
                request = _request(args, scenario, k, instrument=False)
                raw[runner.name][scenario].append(runner.episode(request))
    for scenario in ("one_seed", "two_seeds"):
        for runner in runners:
            request = _request(args, scenario, 0, instrument=True)
            probed[runner.name][scenario] = [runner.episode(request)]
    return _report(runners, raw, probed, args)


def _rotated(runners: list[Any], k: int) -> list[Any]:
    shift = k % len(runners)
    return runners[shift:] + runners[:shift]


def _request(args: argparse.Namespace, scenario: str, k: int, instrument: bool) -> dict[str, Any]:
    return {
        "env_id": args.env,
        "scenario": scenario,
        "seed": args.first_seed + k,
        "budget": args.budget,
        "instrument": instrument,
    }


def _report(
    runners: list[Any], raw: dict[str, Any], probed: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    first = args.first_step
    report: dict[str, Any] = {
        "benchmark": "step_cost",
        "env": args.env,
        "settings": settings(args),
        "implementations": [r.describe() for r in runners],
        "table": {n: {s: summarise(eps, first) for s, eps in raw[n].items()} for n in raw},
        "training_split": {
            n: {s: split_training(eps, first) for s, eps in probed[n].items()} for n in probed
        },
    }
    for name in raw:  # what live seeds add, as a difference to the bare host's training
        wait = report["table"][name]["wait"]["train_ms"]
        for scenario, split in report["training_split"][name].items():
            split["train_ms_minus_wait"] = report["table"][name][scenario]["train_ms"] - wait
    if len(runners) == 2:
        # base "current", other "ref": ref / current, the speed-up of the current tree
        report["step_time_ratio_ref_over_current"] = episode_ratios(raw, first, *raw)
    return report


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (:mod:`envs.atomic`): a reader never sees half a file."""
    from envs.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2))


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The command line as JSON values (``--compare-tree`` is a path)."""
    return {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
        if k not in ("out", "worker")
    }


def print_table(report: dict[str, Any]) -> None:
    for name, table in report["table"].items():
        print(f"[{name}] mean over steps {report['settings']['first_step']}..budget, 1 thread")
        print("| episode | training batches | validation + counterfactuals + rest | whole step |")
        print("|---|---:|---:|---:|")
        for scenario, row in table.items():
            print(
                f"| {scenario} | {row['train_ms']:.1f} ms | {row['val_cf_rest_ms']:.1f} ms "
                f"({100 * row['val_cf_rest_share']:.0f}%) | {row['step_ms']:.1f} ms |"
            )
    for scenario, ratio in report.get("step_time_ratio_ref_over_current", {}).items():
        print(f"step time ref/current, {scenario}: {ratio:.3f}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="simic/Grow-MNIST1D-v0")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--budget", type=int, default=25)
    p.add_argument("--first-step", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--compare-ref", help="also time this git ref (via a temporary worktree)")
    p.add_argument("--compare-tree", type=Path, help="also time the code in this checkout")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        return worker_loop()
    torch.set_num_threads(1)
    worktree = ref_worktree(args.compare_ref) if args.compare_ref else nullcontext(None)
    with worktree as ref_tree:
        other = ref_tree or args.compare_tree
        runners: list[Any] = (
            [Worker("current", ROOT), Worker("ref", Path(other).resolve())]
            if other
            else [InProcess("current")]
        )
        load_before = os.getloadavg()
        try:
            report = measure(runners, args)
        finally:
            for runner in runners:
                runner.close()
    report["machine"] = {**machine(), "torch_threads": 1, "loadavg_before": load_before}
    write_json(args.out, report)
    print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
