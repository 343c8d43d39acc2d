"""A growth task's data in memory: its train / validation / test splits (:class:`TaskData`).

The embedded tasks' loaders (:mod:`envs.data`) build one; so does a user task's loader, through
:meth:`TaskData.from_tensors` or :meth:`TaskData.from_datasets`, which check what they are given
(float inputs, integer labels, as many of each, one input shape) and say in one line what is
wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from kasmina.errors import InvalidValueError


@dataclass(frozen=True)
class Split:
    """One split of a task, in memory."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class TaskData:
    """Fixed train / validation / test splits of a classification task."""

    train: Split
    val: Split
    test: Split
    num_classes: int

    def as_sequences(self) -> TaskData:
        """The splits' ``(N, 1, L)`` inputs as ``(N, L, 1)`` token sequences (transformers)."""
        train, val, test = (
            Split(s.x.transpose(1, 2).contiguous(), s.y) for s in (self.train, self.val, self.test)
        )
        return TaskData(train, val, test, self.num_classes)

    @classmethod
    def from_tensors(
        cls,
        *,
        train: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        num_classes: int | None = None,
    ) -> TaskData:
        """Splits from ``(inputs, labels)`` pairs: inputs batch-first (float), labels integer
        class indices of shape ``(N,)``. ``num_classes`` defaults to the largest label + 1.

        This is how a user task's loader builds its data (``envs.register_task``)::

            def load(data_dir=None):
                return TaskData.from_tensors(train=(x_tr, y_tr), val=(x_va, y_va),
                                             test=(x_te, y_te))
        """
        given = zip(_SPLITS, (train, val, test), strict=True)
        splits = [_as_split(name, pair) for name, pair in given]
        shapes = {tuple(s.x.shape[1:]) for s in splits}
        if len(shapes) != 1:
            raise InvalidValueError(f"TaskData splits differ in input shape: {sorted(shapes)}")
        top = max(int(s.y.max()) for s in splits if len(s)) + 1
        if num_classes is None:
            num_classes = top
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < top:
            raise InvalidValueError(
                f"TaskData num_classes must be an int >= the largest label + 1 ({top}), "
                f"got {num_classes!r}"
            )
        return cls(*splits, num_classes=num_classes)

    @classmethod
    def from_datasets(
        cls,
        *,
        train: Dataset[Any],
        val: Dataset[Any],
        test: Dataset[Any],
        num_classes: int | None = None,
    ) -> TaskData:
        """Splits from map-style ``torch.utils.data.Dataset`` objects yielding ``(x, y)``
        (tensors or numbers), read once into memory: the environment slices batches from
        tensors, so a dataset must fit in memory (as every embedded task does)."""
        given = zip(_SPLITS, (train, val, test), strict=True)
        train_xy, val_xy, test_xy = (_materialize(name, ds) for name, ds in given)
        return cls.from_tensors(train=train_xy, val=val_xy, test=test_xy, num_classes=num_classes)

    def to(self, device: torch.device) -> TaskData:
        if self.train.x.device == device:
            return self
        return TaskData(
            self.train.to(device), self.val.to(device), self.test.to(device), self.num_classes
        )


_SPLITS = ("train", "val", "test")


def _as_split(name: str, pair: object) -> Split:
    """One ``(inputs, labels)`` pair as a :class:`Split`, or a one-line error naming the split."""
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise InvalidValueError(
            f"TaskData {name} must be an (inputs, labels) pair, got {type(pair).__name__}"
        )
    x, y = (torch.as_tensor(v) for v in pair)
    if x.dim() < 2 or not x.is_floating_point():
        raise InvalidValueError(
            f"TaskData {name} inputs must be a float tensor (N, ...), "
            f"got {x.dtype} {tuple(x.shape)}"
        )
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise InvalidValueError(
            f"TaskData {name} labels must be integer class indices (N,), got {y.dtype} "
            f"{tuple(y.shape)}"
        )
    if len(x) != len(y) or len(y) == 0:
        raise InvalidValueError(
            f"TaskData {name} has {len(x)} inputs and {len(y)} labels (need as many, at least 1)"
        )
    if int(y.min()) < 0:
        raise InvalidValueError(f"TaskData {name} labels must be >= 0, got {int(y.min())}")
    return Split(x.contiguous(), y.long())


def _materialize(name: str, dataset: object) -> tuple[Tensor, Tensor]:
    if not isinstance(dataset, Dataset) or not hasattr(dataset, "__len__"):
        raise InvalidValueError(
            f"TaskData {name} must be a map-style torch Dataset with __len__, "
            f"got {type(dataset).__name__}"
        )
    items = [dataset[i] for i in range(len(dataset))]
    if not items or not all(isinstance(i, tuple | list) and len(i) == 2 for i in items):
        raise InvalidValueError(f"TaskData {name}: the dataset must yield (x, y) pairs")
    x = torch.stack([torch.as_tensor(i[0]) for i in items]).float()
    return x, torch.as_tensor([int(i[1]) for i in items])
