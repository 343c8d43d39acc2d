"""What does the environment cost on top of the training it does?

Measures, side by side in one run and alternating, one ``GrowthEnv.step`` against a plain
PyTorch loop doing the same work on the same model: ``batches_per_step`` training batches
(forward, loss, backward, optimizer step) and one validation pass (eval mode, no grad, same
chunks). With ``--seed-live`` the model carries a HOLDING seed and the plain loop also does the
env's counterfactual pass and steps the seed's optimizer. Both run on one torch thread (the env's
default). Prints the per-step median times and, last, the median of the per-pair ratios.

Usage::

    python benchmarks/env_overhead.py [--env simic/Grow-MNIST1D-v0] [--pairs 100] [--seed-live]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import envs
from envs.data import BatchStream


def plain_step(env: envs.GrowthEnv, stream: BatchStream, counterfactuals: list[str]) -> None:
    """The env's training and validation work, written as an ordinary PyTorch loop.

    Like any training loop that reports its progress, it tracks the training loss and accuracy
    of its batches and measures validation loss and accuracy: the numbers the env observes.
    """
    model, data, cfg = env.model, env.data, env.config
    model.train()
    losses, hits = [], []
    for _ in range(cfg.batches_per_step):
        idx = stream.next()
        for opt in model.optimizers():
            opt.zero_grad(set_to_none=True)
        logits = model(data.train.x[idx])
        loss = F.cross_entropy(logits, data.train.y[idx])
        loss.backward()
        for opt in model.optimizers():
            opt.step()
        losses.append(loss.item())
        hits.append((logits.detach().argmax(dim=1) == data.train.y[idx]).sum())
    int(torch.stack(hits).sum())
    model.eval()
    with torch.no_grad():
        for slot in [None, *counterfactuals]:
            with model.switched_off(slot) if slot else contextlib.nullcontext():
                _validate(model, data.val.x, data.val.y, cfg.val_batch_size)


def _validate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    chunk: int,
) -> tuple[float, float]:
    loss, correct = 0.0, 0
    for start in range(0, len(y), chunk):
        logits = model(x[start : start + chunk])
        loss += float(F.cross_entropy(logits, y[start : start + chunk], reduction="sum"))
        correct += int((logits.argmax(dim=1) == y[start : start + chunk]).sum())
    return loss / len(y), correct / len(y)


def prepare(env_id: str, seed_live: bool) -> tuple[gym.Env, list[str]]:
    env = gym.make(env_id, budget=10**6)
    env.reset(seed=0)
    base = env.unwrapped
    if not seed_live:
        return env, []
    env.step(
        base.encode_action(envs.GrowthAction(envs.ActionKind.GERMINATE, "block1", "conv_light"))
    )
    while base.model.slot("block1").stage.name != "HOLDING":
        env.step(0)
    return env, ["block1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="simic/Grow-MNIST1D-v0")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed-live", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    env, counterfactuals = prepare(args.env, args.seed_live)
    base = env.unwrapped
    stream = BatchStream(
        len(base.data.train), base.config.batch_size, np.random.default_rng(1), base.device
    )
    env_times, plain_times = [], []
    for i in range(args.warmup + args.pairs):
        t0 = time.perf_counter()
        env.step(0)
        t1 = time.perf_counter()
        plain_step(base, stream, counterfactuals)
        t2 = time.perf_counter()
        if i >= args.warmup:
            env_times.append(t1 - t0)
            plain_times.append(t2 - t1)
    ratios = [e / p for e, p in zip(env_times, plain_times, strict=True)]
    print(
        f"{args.env} ({'one HOLDING seed' if args.seed_live else 'bare host'}), "
        f"{base.config.batches_per_step} batches of {base.config.batch_size} + validation "
        f"of {len(base.data.val)} per step, {args.pairs} pairs, 1 thread"
    )
    print(f"  env step   median {1e3 * statistics.median(env_times):7.2f} ms")
    print(f"  plain loop median {1e3 * statistics.median(plain_times):7.2f} ms")
    print(f"median ratio env/plain: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
