"""Torch's intra-op thread count, set for a block and restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(wanted: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(wanted)`` (``None``: leave it alone).

    Parallel environments each want one thread, or they fight over the cores. The count is
    restored on exit. On CPU it can change the last bits of a reduction, so anything that must
    reproduce a number exactly uses the same count as the run that produced it.
    """
    previous = torch.get_num_threads()
    if wanted is None or wanted == previous:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
