"""The base class of every blueprint: a residual module that starts as the exact identity."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from kasmina.errors import KasminaError


class SeedModule(nn.Module, ABC):
    """A residual blueprint: ``forward(x) = x + residual(x)``.

    Subclasses implement :meth:`residual` and zero-initialise its last layer (or gate), so that at
    germination ``forward(x)`` equals ``x`` exactly and the host's function is preserved.

    Activation checkpointing (subclasses that pass ``checkpointable=True``): when
    ``use_checkpoint`` is on, :meth:`residual` runs under
    ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``. Autograd then keeps only the
    residual's input instead of every intermediate activation and recomputes the intermediates
    during backward: less activation memory for about one extra forward pass of the seed. The
    residual add stays outside the checkpointed function. Checkpointing applies only while the
    module is training and a backward can follow (grad mode on and the input or a parameter
    requires grad). The input alone is not the test, because in incubator mode a seed sees the
    host's features *detached* yet still trains its own parameters.

    Args:
        checkpoint: Initial value of ``use_checkpoint``.
        checkpointable: Whether this blueprint supports checkpointing at all.
    """

    def __init__(self, *, checkpoint: bool = False, checkpointable: bool = False) -> None:
        super().__init__()
        self.checkpointable = checkpointable
        self._use_checkpoint = False
        self.use_checkpoint = checkpoint

    @property
    def use_checkpoint(self) -> bool:
        """Whether activation checkpointing is on; switch it only between optimizer steps."""
        return self._use_checkpoint

    @use_checkpoint.setter
    def use_checkpoint(self, value: bool) -> None:
        if value and not self.checkpointable:
            raise KasminaError(f"{type(self).__name__} does not support activation checkpointing")
        self._use_checkpoint = bool(value)

    @abstractmethod
    def residual(self, x: Tensor) -> Tensor:
        """The learned update added to ``x``; exactly zero at initialisation."""

    def checkpoint_active(self, x: Tensor) -> bool:
        """Whether the next forward on ``x`` would be checkpointed."""
        if not (self._use_checkpoint and self.training and torch.is_grad_enabled()):
            return False
        return x.requires_grad or any(p.requires_grad for p in self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        if self.checkpoint_active(x):
            delta = activation_checkpoint(self.residual, x, use_reentrant=False)
        else:
            delta = self.residual(x)
        return x + delta


class NoopSeed(SeedModule):
    """Identity; no parameters. The control blueprint: growth that adds nothing."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def residual(self, x: Tensor) -> Tensor:  # pragma: no cover - forward skips it
        return torch.zeros_like(x)

    def forward(self, x: Tensor) -> Tensor:
        return x
