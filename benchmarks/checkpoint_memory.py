"""Activation checkpointing: memory saved and time paid, measured side by side in one run.

For every checkpoint-capable blueprint, runs forward + backward with checkpointing off and on
(alternating, repeated) and reports:

* saved-tensor bytes (autograd's saved tensors, parameters excluded; any device),
* peak CUDA memory above the baseline (``torch.cuda.max_memory_allocated``; CUDA only),
* median wall time of forward + backward, and the on/off time ratio.

Usage::

    python -m benchmarks.checkpoint_memory [--device cuda] [--dim 256] [--batch 4] [--tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from kasmina import BlueprintRegistry, seeded_init
from kasmina.profiling import saved_tensor_bytes


def _input(topology: str, args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if topology == "cnn":
        shape = (args.batch, args.dim, args.tokens, args.tokens)
    else:
        shape = (args.batch, args.tokens, args.dim)
    return torch.randn(*shape, generator=g).to(device).requires_grad_()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_bytes(step: Callable[[], None], device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - base


def _time(step: Callable[[], None], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


def measure(topology: str, name: str, args: argparse.Namespace, device: torch.device) -> dict:
    kwargs = {"spatial_dims": 2} if topology == "cnn" else {}
    with seeded_init(0):
        seed = BlueprintRegistry.create(topology, name, args.dim, **kwargs).to(device).train()
    x = _input(topology, args, device)

    def step() -> None:
        seed(x).square().mean().backward()

    row: dict = {"blueprint": f"{topology}/{name}"}
    for flag in (False, True):
        seed.use_checkpoint = flag
        _, row[f"saved_{flag}"] = saved_tensor_bytes(lambda: seed(x), exclude=seed.parameters())
        row[f"peak_{flag}"] = _peak_bytes(step, device)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):  # alternate so drift hits both sides equally
        for flag in (False, True):
            seed.use_checkpoint = flag
            times[flag].append(_time(step, device))
    row["time_ratio"] = statistics.median(times[True]) / statistics.median(times[False])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32, help="sequence length / map side")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"device={device} dim={args.dim} batch={args.batch} tokens={args.tokens}")
    print(
        f"{'blueprint':24} {'saved off':>12} {'saved on':>12} {'ratio':>7} "
        f"{'peak off':>12} {'peak on':>12} {'time on/off':>11}"
    )
    for spec in BlueprintRegistry.list(supports_checkpoint=True, dim=args.dim):
        row = measure(spec.topology.value, spec.name, args, device)
        peak = [
            f"{row[f'peak_{f}']:>12,}" if row[f"peak_{f}"] is not None else f"{'n/a':>12}"
            for f in (False, True)
        ]
        print(
            f"{row['blueprint']:24} {row['saved_False']:>12,} {row['saved_True']:>12,} "
            f"{row['saved_False'] / max(row['saved_True'], 1):>6.1f}x {peak[0]} {peak[1]} "
            f"{row['time_ratio']:>10.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
