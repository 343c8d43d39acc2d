"""Embedded, offline data for the growth environments: fixed train / validation / test splits.

* ``mnist1d`` — generated with the ``mnist1d`` package (no download) and cached under the user
  cache directory (``$SIMIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/simic``, else ``~/.cache/simic``),
  written atomically. 4000 generated training sequences are split 3000 / 1000 into train and
  validation; the package's own 1000 test sequences are the test split.
* ``digits`` — scikit-learn's bundled 8x8 digits (1797 images), split 1097 / 350 / 350 by a fixed
  permutation.
* ``cifar10`` — read from a local ``data_dir`` holding the standard ``cifar-10-batches-py``
  folder; nothing is downloaded. 45000 / 5000 / 10000.

Everything lives in memory as tensors; the environment slices batches from them. Which loader
a task uses is written once, in its spec (:data:`envs.tasks.TASKS`). :class:`BatchStream` is the
seeded order in which the training split is read, batch by batch.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from envs.atomic import atomic_write_bytes
from envs.splits import Split, TaskData
from kasmina.errors import InvalidValueError, UserError

MNIST1D_CACHE_VERSION = 1


class DataUnavailableError(UserError, FileNotFoundError):
    """A task's data is not on this machine; the message says how to get it."""


class DataCorruptError(UserError, ValueError):
    """A data file that is there but cannot be read as what it should be; the message names it."""


class BatchStream:
    """Training-set indices in seeded epochs (a fresh permutation per epoch), sliced per batch.

    When less than a batch of an epoch is left, the rest is kept and the next epoch's
    permutation appended (a batch may straddle two epochs): every index is drawn once per epoch,
    and the order depends only on ``rng`` (one permutation per epoch).

    A class-incremental start: the first ``early_batches`` batches are drawn, in epochs of
    their own, from the indices ``early`` only; from then on from all ``size``.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        rng: np.random.Generator,
        device: torch.device,
        *,
        early: np.ndarray | None = None,
        early_batches: int = 0,
    ) -> None:
        self.size, self.batch_size, self.rng, self.device = size, batch_size, rng, device
        if early is not None and early_batches > 0 and len(early) == 0:
            raise ValueError("BatchStream early indices are empty: nothing to train on")
        self.early = early if early is not None and early_batches > 0 else None
        self.early_batches = early_batches if self.early is not None else 0
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._given = 0  # batches given so far (the phase: early or all)
        self._early_phase = self.early is not None

    @classmethod
    def over(
        cls,
        split: Split,
        size: int,
        batch_size: int,
        rng: np.random.Generator,
        *,
        early_classes: int | None = None,
        early_batches: int = 0,
    ) -> BatchStream:
        """The stream over the first ``size`` samples of ``split`` (on its device); with
        ``early_classes``, its first ``early_batches`` batches hold only labels below it."""
        early = None
        if early_classes is not None:
            early = np.flatnonzero(split.y[:size].cpu().numpy() < early_classes)
            if early_batches > 0 and len(early) == 0:
                raise InvalidValueError(
                    f"early_classes={early_classes}: the first {size} training samples hold "
                    "none of those classes; train on more of the split or more classes"
                )
        device = split.x.device
        return cls(size, batch_size, rng, device, early=early, early_batches=early_batches)

    def unread(self) -> None:
        """Take back the batch :meth:`next` just gave: the next call gives it again.

        Its indices stay in the order (an epoch's permutation, once drawn, is kept), so the
        stream and its generator go on exactly as if the batch had been used.
        """
        if self._pos < self.batch_size:
            raise RuntimeError("unread() follows a next(): there is no batch to take back")
        self._pos -= self.batch_size
        self._given -= 1

    def next(self) -> Tensor:
        """The next batch's indices (``batch_size`` of them, on ``device``)."""
        early = self._given < self.early_batches
        if early != self._early_phase:  # the other classes arrive: a fresh epoch of all
            self._early_phase, self._order, self._pos = early, np.empty(0, dtype=np.int64), 0
        if self._pos + self.batch_size > len(self._order):
            self._order, self._pos = self._order[self._pos :], 0
            while len(self._order) < self.batch_size:  # a pool smaller than a batch: repeat
                self._order = np.concatenate([self._order, self._permutation()])
        batch = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        self._given += 1
        return torch.from_numpy(batch).to(self.device)

    def _permutation(self) -> np.ndarray:
        if self._early_phase:
            assert self.early is not None
            return self.early[self.rng.permutation(len(self.early))]
        return self.rng.permutation(self.size)


Loader = Callable[[str | None], TaskData]
"""Reads a task's data: ``loader(data_dir) -> TaskData`` (see :class:`envs.tasks.TaskSpec`)."""


def cache_dir() -> Path:
    """Where generated data is cached (created on demand)."""
    if os.environ.get("SIMIC_CACHE_DIR"):
        return Path(os.environ["SIMIC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "simic"


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` as .npz, atomically: never a partial cache file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def _global_rng_preserved() -> Iterator[None]:
    # mnist1d seeds the global `random` and `numpy.random` generators; we restore both so that
    # generating data never changes the caller's randomness.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _generate_mnist1d() -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataUnavailableError(
            "the mnist1d task needs the 'mnist1d' package: pip install mnist1d"
        ) from exc
    with _global_rng_preserved():
        data = make_dataset(get_dataset_args())
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
    )


MNIST1D_SHAPES = {"x": (4000, 40), "y": (4000,), "x_test": (1000, 40), "y_test": (1000,)}
"""The arrays of the MNIST-1D cache file and their shapes (train + validation, then test)."""


def _read_mnist1d_cache(path: Path) -> dict[str, np.ndarray]:
    """The cached arrays; :class:`DataCorruptError` if the file is not a complete cache."""
    try:
        with np.load(path) as cached:
            arrays = {k: cached[k] for k in MNIST1D_SHAPES}
    # Truncated or garbage bytes fail in many ways: not a zip (BadZipFile), a zip member cut
    # short (EOFError, zlib.error), not .npz at all (ValueError: "pickled data"), a key missing.
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataCorruptError(f"{type(exc).__name__}: {exc}") from None
    shapes = {k: a.shape for k, a in arrays.items()}
    if shapes != MNIST1D_SHAPES:
        raise DataCorruptError(f"array shapes {shapes}, expected {MNIST1D_SHAPES}")
    return arrays


def load_mnist1d(data_dir: str | None = None) -> TaskData:
    """MNIST-1D as (N, 1, 40) sequences; generated once, then read from the cache.

    A cache file that cannot be read (a disk error, a copy cut short) is regenerated, with a
    warning: it holds nothing that generating again does not give back exactly.
    """
    folder = Path(data_dir or cache_dir())
    if folder.exists() and not folder.is_dir():  # e.g. SIMIC_CACHE_DIR naming a file
        raise DataUnavailableError(
            f"the MNIST-1D cache folder {str(folder)!r} is a file, not a folder; point "
            "data_dir (or SIMIC_CACHE_DIR) at a folder"
        )
    path = folder / f"mnist1d-v{MNIST1D_CACHE_VERSION}.npz"
    arrays = None
    if path.exists():
        try:
            arrays = _read_mnist1d_cache(path)
        except DataCorruptError as exc:
            warnings.warn(
                f"MNIST-1D cache {path} is unreadable ({exc}); regenerating it", stacklevel=2
            )
    if arrays is None:
        arrays = _generate_mnist1d()
        atomic_save_npz(path, **arrays)
    x, y = arrays["x"][:, None, :], arrays["y"]
    return TaskData(
        _split(x[:3000], y[:3000]),
        _split(x[3000:], y[3000:]),
        _split(arrays["x_test"][:, None, :], arrays["y_test"]),
        10,
    )


def _fixed_permutation(n: int) -> np.ndarray:
    # A fixed split, independent of any episode seed: splits are part of the task's definition.
    return np.random.default_rng(20240601).permutation(n)


def load_digits(data_dir: str | None = None) -> TaskData:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) images scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images / 16.0)[:, None, :, :]
    y = bunch.target
    order = _fixed_permutation(len(y))
    train, val, test = order[:1097], order[1097:1447], order[1447:]
    return TaskData(
        _split(x[train], y[train]), _split(x[val], y[val]), _split(x[test], y[test]), 10
    )


CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
CIFAR_HOWTO = (
    "CIFAR-10 is read from DATA_DIR/cifar-10-batches-py (the standard 'python version' layout: "
    "data_batch_1..5 and test_batch). Get it once with torchvision "
    '(pip install torchvision; python -c "import torchvision; '
    "torchvision.datasets.CIFAR10('DATA_DIR', download=True)\") or by unpacking the official "
    "cifar-10-python.tar.gz into DATA_DIR, then pass data_dir='DATA_DIR'."
)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file of the python version: a pickled dict of uint8 ``data``, int ``labels``."""

    def corrupt(why: str) -> DataCorruptError:
        return DataCorruptError(
            f"CIFAR-10 file {path} is not a CIFAR-10 python batch ({why}); replace it. "
            + CIFAR_HOWTO
        )

    try:
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
    # Unpickling arbitrary bytes can raise almost any exception (UnpicklingError, EOFError,
    # ValueError, KeyError, ImportError, ...); all of them mean the same: not a batch file.
    except Exception as exc:
        raise corrupt(f"cannot unpickle it: {type(exc).__name__}: {exc}") from None
    if not isinstance(batch, dict) or not {"data", "labels"} <= set(batch):
        raise corrupt("expected a dict with 'data' and 'labels'")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise corrupt(f"'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    if labels.shape != (len(data),) or not np.isin(labels, np.arange(10)).all():
        raise corrupt(f"'labels' must be {len(data)} class numbers 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(data_dir: str | None = None) -> TaskData:
    """CIFAR-10 from ``data_dir``, normalised per channel; a clear error if it is not there."""
    if data_dir is None:
        raise DataUnavailableError("the cifar10 task needs data_dir=...; " + CIFAR_HOWTO)
    root = Path(data_dir) / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise DataUnavailableError(
            f"CIFAR-10 not found: {root} lacks {', '.join(missing)}. " + CIFAR_HOWTO
        )
    parts = [_read_cifar_batch(root / n) for n in names]
    x = np.concatenate([p[0] for p in parts[:5]])
    y = np.concatenate([p[1] for p in parts[:5]])

    def norm(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0 - CIFAR_MEAN[:, None, None]) / CIFAR_STD[:, None, None]

    n_val = len(y) // 10
    order = _fixed_permutation(len(y))
    train, val = order[n_val:], order[:n_val]
    return TaskData(
        _split(norm(x[train]), y[train]),
        _split(norm(x[val]), y[val]),
        _split(norm(parts[5][0]), parts[5][1]),
        10,
    )


def load_cached(loader: Loader, data_dir: str | None = None) -> TaskData:
    """``loader(data_dir)``, memoised per process, so that vector envs share one copy."""
    # Always two positional arguments: lru_cache keys f(x) and f(x, None) apart.
    return _memo(loader, data_dir)


@lru_cache(maxsize=8)
def _memo(loader: Loader, data_dir: str | None) -> TaskData:
    return loader(data_dir)
