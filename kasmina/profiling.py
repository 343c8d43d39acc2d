"""Measuring activation memory on any device: the bytes autograd saves for backward."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import Tensor, nn

T = TypeVar("T")


def saved_tensor_bytes(fn: Callable[[], T], exclude: Iterable[nn.Parameter] = ()) -> tuple[T, int]:
    """Run ``fn`` and count the bytes autograd saves for its backward.

    Every tensor packed by autograd (``torch.autograd.graph.saved_tensors_hooks``) is counted
    once per underlying storage, so a tensor saved by several operations is not double-counted.
    Storages of ``exclude`` (usually the model's parameters, which exist whether or not anything
    is saved) are left out. Under non-reentrant activation checkpointing the checkpointed region's
    inputs are what gets packed, so they are counted too: the measure is honest about what a
    checkpoint keeps alive.

    Returns:
        ``fn``'s result and the byte count.
    """
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, sum(storages.values())
