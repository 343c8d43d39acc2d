"""One optimizer step for many envs' optimizers: one foreach Adam call per hyper-parameter set.

Every env keeps its own optimizers (the host's and one per live seed), with their own state:
``step`` counts stay per env (per tensor, as torch keeps them), so an env that resets or
germinates mid-batch carries on exactly as the single env would. What is batched is the call:
torch's foreach Adam is elementwise per tensor, so stepping the union of many optimizers'
tensors in one ``torch.optim.adam.adam(..., foreach=True)`` call gives each tensor bit for bit
the update its own ``optimizer.step()`` would. Optimizers that are not Adam (SGD) or not on the
foreach path step one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim.adam import adam

_FLAGS = ("amsgrad", "maximize", "decoupled_weight_decay")


def _batchable(optimizer: torch.optim.Optimizer) -> bool:
    if not isinstance(optimizer, torch.optim.Adam):
        return False
    return all(
        g.get("foreach")
        and not g.get("capturable")
        and not g.get("differentiable")
        and not g.get("fused")
        for g in optimizer.param_groups
    )


def _key(group: dict) -> tuple[object, ...]:
    return (
        float(group["lr"]),
        tuple(group["betas"]),
        group["eps"],
        group["weight_decay"],
        *(bool(group.get(flag, False)) for flag in _FLAGS),
    )


@torch.no_grad()
def step_all(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """``optimizer.step()`` for every optimizer, batched where the update is elementwise."""
    buckets: dict[tuple[object, ...], tuple[list[list[Tensor]], list[bool]]] = {}
    for optimizer in optimizers:
        if not _batchable(optimizer):
            optimizer.step()
            continue
        for group in optimizer.param_groups:
            lists, complex_ = buckets.setdefault(_key(group), ([[] for _ in range(6)], [False]))
            # torch's own lazy state initialisation (zero moments, step 0): the state the
            # optimizer would create, in the optimizer's own state dict.
            if optimizer._init_group(group, *lists):
                complex_[0] = True
    for key, (lists, complex_) in buckets.items():
        if not lists[0]:
            continue
        lr, (beta1, beta2), eps, weight_decay, amsgrad, maximize, decoupled = key
        adam(
            *lists,
            foreach=True,
            has_complex=complex_[0],
            decoupled_weight_decay=bool(decoupled),
            amsgrad=bool(amsgrad),
            beta1=beta1,  # type: ignore[arg-type]
            beta2=beta2,  # type: ignore[arg-type]
            lr=lr,  # type: ignore[arg-type]
            weight_decay=weight_decay,  # type: ignore[arg-type]
            eps=eps,  # type: ignore[arg-type]
            maximize=bool(maximize),
        )
