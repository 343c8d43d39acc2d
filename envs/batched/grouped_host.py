"""N CNN hosts of one shape run as one ``groups=N`` network, each env's seeds on its own slice.

Every env keeps its own :class:`~kasmina.MorphogeneticModel` (host, seed slots, optimizers),
exactly as the single env builds it. :class:`GroupedCNN` only changes how the hosts' forward
runs: the weights of each layer are concatenated env-major for the call (``(N*C_out, C_in, k)``
with ``groups=N``; BatchNorm over ``N*C`` channels; the head as one ``baddbmm``), so one kernel
call serves N envs and autograd hands each env's own parameters their gradient. Nothing is
re-laid out when an env germinates, prunes or resets: the concatenation happens per call, and
costs one ``cat`` per parameter tensor, whatever N.

At every injection point the envs' seeds of one blueprint run as one grouped module
(:mod:`envs.batched.seed_groups`), each mixed in by its own :class:`~kasmina.SeedSlot`; a seed
with no grouped form, or alone, runs through its own slot (the single env's code); slices pass
through untouched where no env runs a seed there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from envs.batched.seed_groups import SeedKey, run_group, seed_key
from kasmina import CNNHost, MorphogeneticModel, SeedSlot

HostKey = tuple[object, ...]
"""What hosts must share to run in one group (see :func:`host_key`)."""

_CONV_FN = {1: F.conv1d, 2: F.conv2d}


def host_key(host: nn.Module) -> HostKey | None:
    """The shape of a host that :class:`GroupedCNN` can batch, or ``None`` if it cannot.

    Batchable: a :class:`~kasmina.CNNHost` whose blocks are (bias-free conv, BatchNorm with a
    momentum, ReLU), the default build of every CNN task. Hosts with equal keys share a group.
    """
    if not isinstance(host, CNNHost):
        return None
    shapes: list[object] = [host.spatial_dims, host.head.weight.shape]
    for block in host.blocks:
        conv, norm = block[0], block[1]
        if conv.bias is not None or not isinstance(norm, nn.modules.batchnorm._BatchNorm):
            return None
        if norm.momentum is None or not norm.affine or not norm.track_running_stats:
            return None
        shapes.append((conv.weight.shape, conv.stride, conv.padding, norm.eps, norm.momentum))
    return tuple(shapes)


class GroupedCNN:
    """The forward pass of N same-shape CNN hosts as one grouped network.

    Args:
        models: The envs' models, in group order; their hosts share one :func:`host_key`.
    """

    def __init__(self, models: Sequence[MorphogeneticModel]) -> None:
        self.models = list(models)
        self.hosts: list[CNNHost] = [m.host for m in models]  # type: ignore[misc]
        self.n = len(models)
        first = self.hosts[0]
        self.conv = _CONV_FN[first.spatial_dims]
        self.spatial = tuple(range(2, 2 + first.spatial_dims))
        self.slot_ids = list(first.injection_points())

    def forward(self, x: Tensor, training: bool) -> tuple[Tensor, list[Tensor]]:
        """Logits ``(N, B, classes)`` of inputs ``x`` ``(B, N*C_in, ...)`` (env-major channels),
        and each injection point's input (what :meth:`forward_from` restarts from).

        ``training`` runs BatchNorm on batch statistics and updates every env's running
        statistics as its own BatchNorm would; otherwise the running statistics are used.
        """
        seen: list[Tensor] = []
        return self.forward_from(0, self._block(0, x, training), training, seen), seen

    def forward_from(
        self, start: int, h: Tensor, training: bool, seen: list[Tensor] | None = None
    ) -> Tensor:
        """The rest of the forward pass from injection point ``start``, given its input ``h``."""
        for i in range(start, len(self.hosts[0].blocks)):
            if i > start:
                h = self._block(i, h, training)
            if seen is not None:
                seen.append(h)
            h = self._slots(self.slot_ids[i], h)
        return self._head(h.mean(dim=self.spatial))

    def _block(self, i: int, h: Tensor, training: bool) -> Tensor:
        convs = [host.blocks[i][0] for host in self.hosts]
        norms = [host.blocks[i][1] for host in self.hosts]
        first = convs[0]
        weight = torch.cat([c.weight for c in convs])
        h = self.conv(h, weight, None, first.stride, first.padding, 1, self.n)
        return F.relu(self._batch_norm(norms, h, training))

    def _batch_norm(self, norms: list[nn.Module], h: Tensor, training: bool) -> Tensor:
        first = norms[0]
        mean = torch.cat([b.running_mean for b in norms])  # type: ignore[misc]
        var = torch.cat([b.running_var for b in norms])  # type: ignore[misc]
        weight = torch.cat([b.weight for b in norms])  # type: ignore[misc]
        bias = torch.cat([b.bias for b in norms])  # type: ignore[misc]
        out = F.batch_norm(h, mean, var, weight, bias, training, first.momentum, first.eps)
        if training:  # F.batch_norm updated the concatenated copies: hand each env its own
            with torch.no_grad():
                for norm, m, v in zip(norms, mean.chunk(self.n), var.chunk(self.n), strict=True):
                    norm.running_mean.copy_(m)  # type: ignore[operator]
                    norm.running_var.copy_(v)  # type: ignore[operator]
                    norm.num_batches_tracked.add_(1)  # type: ignore[operator]
        return out

    def _slots(self, slot_id: str, h: Tensor) -> Tensor:
        slots = [_slot(m, slot_id) for m in self.models]
        running = [
            e for e, s in enumerate(slots) if s is not None and s.runs_seed(s.alpha_override)
        ]
        if not running:
            return h  # every env's slot is the identity here: no split, no copy
        parts = list(h.chunk(self.n, dim=1))
        groups: dict[SeedKey | None, list[int]] = {}
        for e in running:
            groups.setdefault(seed_key(slots[e], parts[e]), []).append(e)  # type: ignore[arg-type]
        outs = list(parts)
        for key, members in groups.items():
            if key is None or len(members) == 1:  # no grouped form, or nothing to group
                for e in members:
                    outs[e] = slots[e](parts[e])  # type: ignore[misc]
                continue
            mixed = run_group([slots[e] for e in members], [parts[e] for e in members])  # type: ignore[misc]
            for e, out in zip(members, mixed, strict=True):
                outs[e] = out
        return torch.cat(outs, dim=1)

    def _head(self, pooled: Tensor) -> Tensor:
        heads = [host.head for host in self.hosts]
        weight = torch.stack([h.weight for h in heads])  # (N, classes, C)
        bias = torch.stack([h.bias for h in heads]).unsqueeze(1)  # (N, 1, classes)
        features = pooled.view(pooled.shape[0], self.n, -1).transpose(0, 1)  # (N, B, C)
        return torch.baddbmm(bias, features, weight.transpose(1, 2))


def _slot(model: MorphogeneticModel, slot_id: str) -> SeedSlot | None:
    # A config may grow only some of the host's injection points: no slot, no seed there.
    # (nn.ModuleDict has no .get, hence the noqa.)
    return model.slots[slot_id] if slot_id in model.slots else None  # type: ignore[return-value]  # noqa: SIM401
