"""The work inside one environment step: train the model for some batches, then measure it.

Public functions, one per part, each taking the model and the data it needs and returning a
frozen result, so that any environment (:class:`~envs.GrowthEnv`, a batched variant) and any
benchmark can run exactly the env's arithmetic without an env instance:

* :func:`train_batches` -> :class:`TrainStats`: ``n`` optimizer steps on a :class:`BatchStream`;
* :func:`recover_from_oom`: prune the newest live seed after a step ran out of memory twice;
* :func:`gradient_ratios`: each live seed's gradient norm over the host's, after training;
* :func:`measure_seeds` -> :class:`SeedMeasurement`: validation loss and accuracy and every
  live seed's counterfactual contribution, from one shared pass.

**The seam.** :class:`GrowthEnv` does not call the two costly parts directly but through its
``stepping`` attribute, a :class:`Stepping` (by default :data:`DEFAULT_STEPPING`, which just
calls :func:`train_batches` and :func:`measure_seeds`). Replacing it on an instance, e.g. with
a subclass that times or checks each call and delegates to ``super()``, is the supported way
to observe or swap that work (``env.unwrapped.stepping = TimedStepping()``)::

    class Timed(Stepping):
        def measure(self, model, split, chunk_size):
            t0 = time.perf_counter()
            try:
                return super().measure(model, split, chunk_size)
            finally:
                spent.append(time.perf_counter() - t0)

Why a strategy object and not hooks or wrappers: a Gymnasium wrapper only sees ``step`` as a
whole, and a hook list (torch's ``register_forward_hook`` style) can observe but not replace,
and needs handles to undo. One replaceable attribute whose type is the documented contract is
what PyTorch Lightning does with its loops (``trainer.fit_loop = MyLoop()``): it can observe,
replace or wrap, it types cleanly, and the default lives on the class, so an env that never
replaces it pickles exactly as before. Monkeypatching a private method did the same job with
no contract at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from envs.data import BatchStream, Split
from envs.evaluation import evaluate_counterfactuals
from kasmina import GrowthOOMError, MorphogeneticModel
from kasmina.counterfactual import contribution_alphas


@dataclass(frozen=True)
class TrainStats:
    """What one step's training batches measured.

    Attributes:
        loss: Mean training loss over the batches trained (``inf`` once it diverged; NaN when
            memory ran out before any batch finished).
        accuracy: Fraction of the training samples seen that were classified right.
        diverged: The loss stopped being finite (or memory ran out with no seed to prune).
        oom: A batch ran out of memory twice (see :func:`recover_from_oom`).
    """

    loss: float
    accuracy: float
    diverged: bool
    oom: bool


@dataclass(frozen=True)
class SeedMeasurement:
    """Validation numbers of a model and the counterfactual value of each live seed.

    Attributes:
        loss: Mean validation cross-entropy.
        accuracy: Validation accuracy.
        contributions: Per live seed (slot order): accuracy with it minus accuracy without it,
            as :func:`kasmina.counterfactual.contribution_alpha` defines with and without.
    """

    loss: float
    accuracy: float
    contributions: Mapping[str, float]


def train_batches(
    model: MorphogeneticModel, split: Split, stream: BatchStream, batches: int
) -> TrainStats:
    """``batches`` training steps of ``model`` on batches of ``split`` drawn from ``stream``.

    Stops early at a non-finite loss (``diverged``) or at a batch that ran out of memory twice
    (``oom``, nothing pruned: see :func:`recover_from_oom`). Accuracy is counted on the device
    and read once at the end, not once per batch.
    """
    losses: list[float] = []
    hits: list[Tensor] = []  # summed once at the end: no device sync per batch

    def loss_fn(logits: Tensor, targets: Tensor) -> Tensor:
        hits.append((logits.detach().argmax(dim=1) == targets).sum())
        return F.cross_entropy(logits, targets)

    for _ in range(batches):
        idx = stream.next()
        try:
            result = model.train_step(split.x[idx], split.y[idx], loss_fn)
        except GrowthOOMError:
            hits = hits[: len(losses)]  # drop the failed batch's count
            seen = len(losses) * len(idx)
            loss = float(np.mean(losses)) if losses else float("nan")
            return TrainStats(loss, _count(hits) / seen if seen else float("nan"), False, True)
        losses.append(result.loss)
        if not np.isfinite(result.loss):
            seen = len(losses) * len(idx)
            return TrainStats(float("inf"), _accuracy(hits, seen), diverged=True, oom=False)
    seen = len(losses) * stream.batch_size
    return TrainStats(float(np.mean(losses)), _accuracy(hits, seen), False, False)


def recover_from_oom(
    model: MorphogeneticModel, stats: TrainStats, germinated_at: Mapping[str, int]
) -> tuple[TrainStats, str | None]:
    """After ``stats.oom``: prune the newest live seed and return the stats and its slot.

    The newest is the latest in ``germinated_at`` (slot id -> step), ties broken by slot order.
    With no live seed there is nothing to give back and the run cannot go on: the stats say
    ``diverged`` (loss ``inf``, accuracy 0) and no slot is returned.
    """
    order: Sequence[str] = list(model.slots)
    live = [s for s in order if model.slot(s).stage.is_live]
    if not live:
        return TrainStats(float("inf"), 0.0, diverged=True, oom=True), None
    newest = max(live, key=lambda s: (germinated_at.get(s, -1), order.index(s)))
    model.prune(newest)
    return stats, newest


def gradient_ratios(model: MorphogeneticModel) -> dict[str, float]:
    """Per live seed, its gradient norm over the host's, from the gradients left by training.

    Empty when the host has no gradient (nothing to compare against).
    """
    host = _grad_norm(model.host.parameters())
    ratios = {}
    for slot in model.iter_slots():
        if slot.stage.is_live and slot.seed is not None and host > 0:
            ratios[slot.slot_id] = _grad_norm(slot.seed.parameters()) / host
    return ratios


def measure_seeds(model: MorphogeneticModel, split: Split, chunk_size: int) -> SeedMeasurement:
    """Loss and accuracy of ``model`` on ``split``, and each live seed's contribution.

    A contribution is accuracy with the seed minus accuracy without it. A TRAINING seed does
    not change the model's output, so it is tested blended in (alpha 1); any other is switched
    off (alpha 0) (:func:`~kasmina.counterfactual.contribution_alpha`). One shared pass computes
    all of them (:func:`~envs.evaluation.evaluate_counterfactuals`); the model is left as it
    was.
    """
    alphas = contribution_alphas(model)
    loss, acc, other = evaluate_counterfactuals(model, split, chunk_size, alphas)
    contributions = {
        slot_id: other[slot_id] - acc if alpha == 1.0 else acc - other[slot_id]
        for slot_id, alpha in alphas.items()
    }
    return SeedMeasurement(loss, acc, contributions)


class Stepping:
    """The costly work of a :class:`~envs.GrowthEnv` step; ``env.stepping`` is the seam.

    Subclass it and override a method (delegating to ``super()`` to keep the env's numbers) to
    time, check or replace that work; see the module docstring. A replacement must return what
    the default would for the env's episodes to stay reproducible.
    """

    def train(
        self, model: MorphogeneticModel, split: Split, stream: BatchStream, batches: int
    ) -> TrainStats:
        """The step's training batches (:func:`train_batches`)."""
        return train_batches(model, split, stream, batches)

    def measure(self, model: MorphogeneticModel, split: Split, chunk_size: int) -> SeedMeasurement:
        """The step's validation and counterfactual pass (:func:`measure_seeds`)."""
        return measure_seeds(model, split, chunk_size)


DEFAULT_STEPPING = Stepping()
"""What every env uses until its ``stepping`` is replaced (stateless: one shared instance)."""


def _count(hits: list[Tensor]) -> int:
    return int(torch.stack(hits).sum()) if hits else 0


def _accuracy(hits: list[Tensor], seen: int) -> float:
    return _count(hits) / seen if seen else float("nan")


def _grad_norm(params: Iterator[torch.nn.Parameter]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    )
