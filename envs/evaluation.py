"""Evaluating a model on a split: the one definition the environment and exported models share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from envs.data import Split
from kasmina import MorphogeneticModel


@torch.no_grad()
def evaluate_split(model: nn.Module, split: Split, chunk_size: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``split`` in eval mode, in chunks.

    Running statistics are not touched (eval mode, no grad) and the model's training flag is
    restored. The chunk size only bounds memory; keep it fixed to reproduce numbers exactly.
    """
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        for start in range(0, len(split), chunk_size):
            x, y = split.x[start : start + chunk_size], split.y[start : start + chunk_size]
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
    finally:
        model.train(was_training)
    return loss_sum / len(split), correct / len(split)


@torch.no_grad()
def evaluate_counterfactuals(
    model: MorphogeneticModel, split: Split, chunk_size: int, alphas: dict[str, float]
) -> tuple[float, float, dict[str, float]]:
    """:func:`evaluate_split`'s (loss, accuracy), plus the accuracy with each alpha override.

    The same numbers as ``evaluate_split`` inside ``model.counterfactual({slot_id: alpha})``
    for every slot, from one pass over the data: the counterfactuals share the plain pass's
    features (:meth:`~kasmina.MorphogeneticModel.forward_counterfactuals`) and the model
    switches to eval mode once, not once per pass.
    """
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    hits = dict.fromkeys(alphas, 0)
    try:
        for start in range(0, len(split), chunk_size):
            x, y = split.x[start : start + chunk_size], split.y[start : start + chunk_size]
            logits, counterfactuals = model.forward_counterfactuals(x, alphas)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            right = int((logits.argmax(dim=1) == y).sum())
            correct += right
            for slot_id, other in counterfactuals.items():
                hits[slot_id] += right if other is logits else int((other.argmax(dim=1) == y).sum())
    finally:
        model.train(was_training)
    n = len(split)
    return loss_sum / n, correct / n, {slot_id: k / n for slot_id, k in hits.items()}
