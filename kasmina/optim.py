"""Optimizer specifications: how the host's and each seed's optimizers are built."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from kasmina.errors import InvalidValueError, UnknownChoiceError

_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


@dataclass(frozen=True)
class OptimizerSpec:
    """A frozen recipe for a torch optimizer.

    Attributes:
        name: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        lr: Learning rate (> 0).
        weight_decay: L2 / decoupled weight decay (>= 0).
        momentum: SGD momentum in [0, 1); ignored by Adam(W).
    """

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in _OPTIMIZERS:  # [..] is unhashable
            raise UnknownChoiceError("optimizer", self.name, _OPTIMIZERS)
        if not self.lr > 0:
            raise InvalidValueError(f"optimizer lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise InvalidValueError(
                f"optimizer weight_decay must be >= 0, got {self.weight_decay!r}"
            )
        if not 0 <= self.momentum < 1:
            raise InvalidValueError(f"optimizer momentum must be in [0, 1), got {self.momentum!r}")

    def hyperparameters(self) -> dict[str, float]:
        """Keyword arguments of the optimizer (also used for added parameter groups)."""
        extra = {"momentum": self.momentum} if self.name == "sgd" else {}
        return {"lr": self.lr, "weight_decay": self.weight_decay, **extra}

    def build(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """A new optimizer over ``params``."""
        return _OPTIMIZERS[self.name](list(params), **self.hyperparameters())
