"""The step's costly work for a group of envs at once: training batches, validation, seeds.

The batched counterparts of :func:`envs.stepping.train_batches` and
:func:`envs.stepping.measure_seeds`, for envs whose hosts share one shape (a
:class:`~envs.batched.grouped_host.GroupedCNN`). They return, per env, what the single env's
functions return for that env, within float rounding: each env draws its batches from its own
:class:`~envs.data.BatchStream`, gets its own mean loss and gradient (the summed loss of
independent networks), and its optimizers step with their own state
(:func:`~envs.batched.optim.step_all`). An env whose loss stops being finite leaves the group
for the rest of the step, as the single env stops training there.

Out of memory: the governor is polled per env before every batch, so ``memory_pressure`` and
checkpointing are observed as in the single env. A grouped batch holds N envs' activations at
once; if it runs out of memory anyway, the group finishes the step env by env through the
single env's own :func:`~envs.stepping.train_batches`, with its retry under checkpointing and,
failing that, ``oom`` in its stats (the env then prunes its newest seed, as the single env does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from envs.batched.grouped_host import GroupedCNN
from envs.batched.optim import step_all
from envs.data import BatchStream, Split
from envs.stepping import SeedMeasurement, TrainStats, measure_seeds, train_batches
from kasmina import MorphogeneticModel
from kasmina.counterfactual import contribution_alphas


def _prepare(model: MorphogeneticModel) -> list[torch.optim.Optimizer]:
    """What ``MorphogeneticModel.train_step`` does before its forward pass."""
    model.governor.poll(model.steps_taken, model.device)
    for slot in model.iter_slots():
        slot.set_checkpointing(model.governor.checkpointing)
    if not model.training:
        model.train()
    optimizers = model.optimizers()
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    return optimizers


def train_group(
    models: Sequence[MorphogeneticModel],
    splits: Sequence[Split],
    streams: Sequence[BatchStream],
    batches: int,
) -> list[TrainStats]:
    """``batches`` training steps of every model, as one grouped network; stats per model."""
    n = len(models)
    losses: list[list[float]] = [[] for _ in range(n)]
    hits: list[list[Tensor]] = [[] for _ in range(n)]
    active = list(range(n))
    for done in range(batches):
        if not active:
            break
        indices = [streams[e].next() for e in active]
        try:
            finite = _grouped_batch(models, splits, indices, active, losses, hits)
        except torch.OutOfMemoryError:
            for e in active:
                streams[e].unread()  # the failed batch is drawn again, env by env
            return _finish_per_env(models, splits, streams, batches - done, losses, hits, active)
        active = [e for k, e in enumerate(active) if k in finite]
    return [_stats(losses[e], hits[e], streams[e].batch_size) for e in range(n)]


def _grouped_batch(
    models: Sequence[MorphogeneticModel],
    splits: Sequence[Split],
    indices: Sequence[Tensor],
    active: list[int],
    losses: list[list[float]],
    hits: list[list[Tensor]],
) -> list[int]:
    """One training batch (``indices``, per active env) of the ``active`` envs as one grouped
    network; returns the positions (in ``active``) of the envs whose loss stayed finite."""
    x = torch.cat([splits[e].x[i] for e, i in zip(active, indices, strict=True)], dim=1)
    targets = [splits[e].y[i] for e, i in zip(active, indices, strict=True)]
    optimizers = [_prepare(models[e]) for e in active]
    logits, _ = GroupedCNN([models[e] for e in active]).forward(x, training=True)
    per_env = [F.cross_entropy(logits[k], y) for k, y in enumerate(targets)]
    torch.stack(per_env).sum().backward()  # each env's parameters get its own gradient
    values = torch.stack([loss.detach() for loss in per_env]).tolist()  # one read
    right = (logits.detach().argmax(dim=2) == torch.stack(targets)).sum(dim=1)
    finite = [k for k, v in enumerate(values) if np.isfinite(v)]
    step_all(opt for k in finite for opt in optimizers[k])
    for k, e in enumerate(active):
        models[e].steps_taken += 1
        losses[e].append(values[k])
        hits[e].append(right[k])
    return finite


def _finish_per_env(
    models: Sequence[MorphogeneticModel],
    splits: Sequence[Split],
    streams: Sequence[BatchStream],
    remaining: int,
    losses: list[list[float]],
    hits: list[list[Tensor]],
    active: list[int],
) -> list[TrainStats]:
    """The rest of the step after a grouped batch ran out of memory: each active env trains
    its ``remaining`` batches alone, one at a time through the single env's own
    :func:`~envs.stepping.train_batches` (its retry under checkpointing; ``oom`` in the stats
    if that fails too, with the loss and accuracy of the batches that finished)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # what the failed grouped batch held
    for e in active:
        for optimizer in models[e].optimizers():
            optimizer.zero_grad(set_to_none=True)  # the failed batch's partial gradients
    stats = {}
    for e in active:
        size = streams[e].batch_size
        for _ in range(remaining):
            one = train_batches(models[e], splits[e], streams[e], 1)
            if one.oom:
                stats[e] = _stats(losses[e], hits[e], size, oom=True)
                break
            losses[e].append(one.loss)
            hits[e].append(torch.tensor(round(one.accuracy * size)))
            if not np.isfinite(one.loss):
                break
    return [
        stats.get(e) or _stats(losses[e], hits[e], streams[e].batch_size)
        for e in range(len(models))
    ]


def _stats(
    losses: list[float], hits: list[Tensor], batch_size: int, oom: bool = False
) -> TrainStats:
    """What :func:`~envs.stepping.train_batches` reports for these batches."""
    seen = len(losses) * batch_size
    accuracy = int(torch.stack(hits).sum()) / seen if seen else float("nan")
    if losses and not np.isfinite(losses[-1]):
        return TrainStats(float("inf"), accuracy, diverged=True, oom=False)
    loss = float(np.mean(losses)) if losses else float("nan")
    return TrainStats(loss, accuracy, False, oom)


def measure_group(
    models: Sequence[MorphogeneticModel], split: Split, chunk_size: int
) -> list[SeedMeasurement]:
    """Validation loss and accuracy of every model on ``split``, and each live seed's
    contribution (:func:`envs.stepping.measure_seeds` per model).

    On an accelerator: one grouped pass for all envs plus one counterfactual pass per slot.
    On a CPU each model is measured by :func:`~envs.stepping.measure_seeds` itself (the single
    env's numbers, bit for bit): validation chunks are large (``val_batch_size``, 500), and at
    that batch size one thread runs a ``groups=N`` convolution about 3x slower than N separate
    ones (measured: 17 ms grouped vs 7 ms separate for N = 8 over 1000 samples), while at the
    64-sample training batch the grouped one is 2-3x faster.
    """
    if split.x.device.type == "cpu":
        return [measure_seeds(m, split, chunk_size) for m in models]
    return _measure_grouped(models, split, chunk_size)


@torch.no_grad()
def _measure_grouped(
    models: Sequence[MorphogeneticModel], split: Split, chunk_size: int
) -> list[SeedMeasurement]:
    n, grouped = len(models), GroupedCNN(models)
    alphas = [contribution_alphas(m) for m in models]
    slots = [s for s in grouped.slot_ids if any(s in a for a in alphas)]
    loss_sum, correct = np.zeros(n), np.zeros(n, dtype=np.int64)
    other = {s: np.zeros(n, dtype=np.int64) for s in slots}
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        for start in range(0, len(split), chunk_size):
            x, y = split.x[start : start + chunk_size], split.y[start : start + chunk_size]
            logits, seen = grouped.forward(x.repeat(1, n, *([1] * (x.dim() - 2))), False)
            loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(n), reduction="none")
            loss_sum += loss.view(n, -1).sum(dim=1).double().cpu().numpy()
            correct += (logits.argmax(dim=2) == y).sum(dim=1).cpu().numpy()
            for slot_id in slots:
                counterfactual = _counterfactual(grouped, alphas, slot_id, seen)
                other[slot_id] += (counterfactual.argmax(dim=2) == y).sum(dim=1).cpu().numpy()
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    size = len(split)
    return [
        SeedMeasurement(
            float(loss_sum[e] / size),
            float(correct[e] / size),
            {
                # as measure_seeds subtracts them: accuracies first, so equal counts give
                # bit-equal contributions
                s: other[s][e] / size - correct[e] / size
                if a == 1.0
                else correct[e] / size - other[s][e] / size
                for s, a in alphas[e].items()
            },
        )
        for e in range(n)
    ]


def _counterfactual(
    grouped: GroupedCNN, alphas: list[dict[str, float]], slot_id: str, seen: list[Tensor]
) -> Tensor:
    """The logits with every env's live seed in ``slot_id`` at its contribution alpha."""
    slots = [m.slot(slot_id) for m in grouped.models]
    previous = [s.alpha_override for s in slots]
    for slot, a in zip(slots, alphas, strict=True):
        if slot_id in a:
            slot.alpha_override = a[slot_id]
    start = grouped.slot_ids.index(slot_id)
    try:
        return grouped.forward_from(start, seen[start], False)
    finally:
        for slot, old in zip(slots, previous, strict=True):
            slot.alpha_override = old
