"""Explicit randomness: module initialisation that neither reads nor changes global RNG state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded to ``seed``, then restore it.

    ``nn.Module`` constructors draw their initial weights from torch's global generator. Inside
    this context they draw from a fresh state derived from ``seed`` instead, and the global state
    is restored afterwards, so building a host or a seed is reproducible and leaves the caller's
    RNG untouched. Build on CPU and move the module afterwards (CUDA generators are not forked).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def derive_seed(generator: torch.Generator) -> int:
    """Draw a 63-bit integer seed from an explicit generator."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())
