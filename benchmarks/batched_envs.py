"""Batched environments: can N MNIST-1D envs train their hosts (and seeds) in one call? (issue 9.4)

A prototype and a measurement, not the product. N envs of one task share the host's
architecture (``CNNHost(1, 10, (8, 16), spatial_dims=1)``), so their hosts can run as one wide
network. One env "step" here is the env's training and measuring work: ``batches_per_step`` (8)
training batches of 64 (forward, cross-entropy, backward, Adam) and a validation pass over the
1000 validation samples in chunks of 500 (eval mode), plus one counterfactual validation pass per
live seed at the alpha ``kasmina.counterfactual.contribution_alpha`` gives, as the env measures
(a TRAINING seed blended in at 1, any other live seed switched off). Variants:

* ``separate``      N ``kasmina.MorphogeneticModel`` stepped one after the other (``train_step``,
                    ``envs.evaluation.evaluate_split``, ``counterfactual``): what N envs cost today;
* ``grouped``       the N hosts as one network with ``groups=N`` convolutions, one BatchNorm over
                    N*C channels and a batched head (``baddbmm``); seeds batched per (slot,
                    blueprint) into grouped convolutions, over the envs that have one there
                    (gather/scatter by channel index when only some do); one counterfactual pass
                    per slot serves every env;
* ``grouped_per_env`` the same grouped hosts, each env's seed run by its own ``SeedSlot``;
* ``vmap``          ``torch.func``: ``stack_module_state`` + ``functional_call`` + ``vmap`` over
                    the N models (only when every env has the same structure).

Scenarios: ``host`` (no seeds), ``two_seeds`` (conv_light HOLDING in block0 and block1 of every
env), ``mixed`` (env e: no seed, a HOLDING seed in block1, or a TRAINING seed in block0 and a
BLENDING one in block1, by e mod 3). Timings alternate the variants (order rotating with the
repetition), one torch thread, medians over repetitions. Numerical agreement: every variant
starts from the separate models' exact state, takes ``--agree-steps`` steps on the same batches,
and the max abs difference of parameters and validation logits is reported.

Usage (from the repository root)::

    python -m benchmarks.batched_envs [--ns 1 2 4 8 16] [--reps 5] [--steps 2]

Writes ``benchmarks/results/batched_envs.json`` after every repetition (``--resume`` continues
a cut-off run) and the table ``benchmarks/results/batched_envs_table.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from benchmarks.common.machine import machine
from benchmarks.step_cost import write_json
from envs.data import BatchStream
from envs.evaluation import evaluate_split
from envs.tasks import get_task
from kasmina import MorphogeneticModel, OptimizerSpec, SeedSlot, SeedStage, seeded_init
from kasmina.counterfactual import contribution_alpha

RESULTS = Path(__file__).resolve().parent / "results"
BATCHES, BATCH, VAL_CHUNK, LR = 8, 64, 500, 3e-3  # GrowthEnvConfig's defaults
SLOTS = ("block0", "block1")
# Lifecycle ticks after germination to reach a stage (defaults: 2 training, 2 blending ticks).
TICKS = {SeedStage.TRAINING: 1, SeedStage.BLENDING: 3, SeedStage.HOLDING: 5}
Plan = dict[str, SeedStage]  # slot -> stage of its conv_light seed
SCENARIOS: dict[str, Callable[[int], Plan]] = {
    "host": lambda e: {},
    "two_seeds": lambda e: {"block0": SeedStage.HOLDING, "block1": SeedStage.HOLDING},
    "mixed": lambda e: [
        {},
        {"block1": SeedStage.HOLDING},
        {"block0": SeedStage.TRAINING, "block1": SeedStage.BLENDING},
    ][e % 3],
}


# ----------------------------------------------------------------------------- separate (today)
def build_models(n: int, scenario: str) -> list[MorphogeneticModel]:
    """N models as N envs would build them (own host init, own seed generator)."""
    models = []
    for e in range(n):
        with seeded_init(1000 + e):
            host = get_task("mnist1d").host_factory()
        spec = OptimizerSpec("adam", LR)
        model = MorphogeneticModel(host, host_optimizer=spec, seed_optimizer=spec, seed=e)
        for slot_id, stage in SCENARIOS[scenario](e).items():
            model.germinate(slot_id, "conv_light")
            for _ in range(TICKS[stage]):
                model.slot(slot_id).tick()
        models.append(model)
    return models


class Separate:
    """N envs' work done the way each env does it today, one after the other."""

    def __init__(self, models: list[MorphogeneticModel]) -> None:
        self.models = models

    def train(self, x: Tensor, y: Tensor) -> None:  # x: (N, B, 1, L), y: (N, B)
        for e, model in enumerate(self.models):
            hits: list[Tensor] = []

            def loss_fn(logits: Tensor, t: Tensor, hits: list[Tensor] = hits) -> Tensor:
                hits.append((logits.detach().argmax(dim=1) == t).sum())
                return F.cross_entropy(logits, t)

            model.train_step(x[e], y[e], loss_fn)

    def validate(self, split: Any) -> list[float]:
        accs = []
        for model in self.models:
            acc = evaluate_split(model, split, VAL_CHUNK)[1]
            for slot in model.iter_slots():  # one counterfactual pass per live seed
                if slot.stage.is_live:
                    alpha = contribution_alpha(slot.stage)
                    with model.counterfactual({slot.slot_id: alpha}):
                        evaluate_split(model, split, VAL_CHUNK)
            accs.append(acc)
        return accs

    def logits(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.stack([m.eval()(x) for m in self.models])

    def vectors(self) -> list[Tensor]:
        return [_flat(m.host.parameters(), *_seed_params(m)) for m in self.models]


def _seed_params(model: MorphogeneticModel) -> list[nn.Parameter]:
    return [p for s in model.iter_slots() if s.seed is not None for p in s.seed.parameters()]


def _flat(params: Any, *more: Tensor) -> Tensor:
    return torch.cat([p.detach().flatten() for p in [*params, *more]])


# ----------------------------------------------------------------------------- grouped
class GroupedHost(nn.Module):
    """N CNNHosts (1-D, batch norm, no conv bias) as one network: channels env-major."""

    def __init__(self, hosts: list[nn.Module]) -> None:
        super().__init__()
        self.n = len(hosts)
        self.convs = nn.ParameterList()
        self.norms = nn.ModuleList()
        self.strides: list[tuple[int, int]] = []
        for i, block in enumerate(hosts[0].blocks):
            conv = block[0]
            self.convs.append(nn.Parameter(torch.cat([h.blocks[i][0].weight for h in hosts])))
            self.strides.append((conv.stride[0], conv.padding[0]))
            self.norms.append(_stack_bn([h.blocks[i][1] for h in hosts]))
        self.head_w = nn.Parameter(torch.stack([h.head.weight.detach() for h in hosts]))
        self.head_b = nn.Parameter(torch.stack([h.head.bias.detach() for h in hosts]))

    def forward(self, x: Tensor, slots: dict[str, Callable[[Tensor], Tensor]]) -> Tensor:
        """x: (B, N*C_in, L) -> logits (N, B, classes)."""
        h = x
        for i, (weight, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            stride, pad = self.strides[i]
            h = F.relu(norm(F.conv1d(h, weight, None, stride, pad, groups=self.n)))
            if f"block{i}" in slots:
                h = slots[f"block{i}"](h)
        pooled = h.mean(dim=2).view(h.shape[0], self.n, -1).transpose(0, 1)  # (N, B, C)
        return torch.baddbmm(self.head_b.unsqueeze(1), pooled, self.head_w.transpose(1, 2))

    def vector(self, e: int) -> list[Tensor]:
        """Env e's host parameters in ``CNNHost.parameters()`` order."""
        out = []
        for weight, norm in zip(self.convs, self.norms, strict=True):
            c = weight.shape[0] // self.n
            out += [weight[e * c : (e + 1) * c], norm.weight[e * c : (e + 1) * c]]
            out.append(norm.bias[e * c : (e + 1) * c])
        return [*out, self.head_w[e], self.head_b[e]]


def _stack_bn(norms: list[nn.BatchNorm1d]) -> nn.BatchNorm1d:
    out = nn.BatchNorm1d(sum(n.num_features for n in norms))
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(out, name).copy_(torch.cat([getattr(n, name) for n in norms]))
    return out


class SeedGroup(nn.Module):
    """One slot's conv_light seeds of several envs as one grouped module (envs ``members``)."""

    def __init__(self, slots: list[SeedSlot], members: list[int], n: int) -> None:
        super().__init__()
        self.members, self.n, self.c = members, n, slots[0].width
        bodies = [s.seed.body for s in slots]  # type: ignore[union-attr]
        self.gn_groups = bodies[0][0].num_groups
        self.gn_w = nn.Parameter(torch.cat([b[0].weight.detach() for b in bodies]))
        self.gn_b = nn.Parameter(torch.cat([b[0].bias.detach() for b in bodies]))
        self.conv_w = nn.Parameter(torch.cat([b[2].weight.detach() for b in bodies]))
        self.conv_b = nn.Parameter(torch.cat([b[2].bias.detach() for b in bodies]))
        self.incubating = [s.stage is SeedStage.TRAINING for s in slots]
        self.alphas = [s.alpha for s in slots]
        self.cf_alphas = [contribution_alpha(s.stage) for s in slots]  # in a counterfactual pass
        self.counterfactual = False

    def _cols(self, members: list[int]) -> Tensor:
        return torch.cat([torch.arange(e * self.c, (e + 1) * self.c) for e in members])

    def _seed(self, x: Tensor, rows: list[int]) -> Tensor:
        take = len(rows) < len(self.members)
        sel = self._cols(rows) if take else None

        def p(t: Tensor) -> Tensor:
            return t if sel is None else t.index_select(0, sel)

        k = len(rows)
        body = F.group_norm(x, self.gn_groups * k, p(self.gn_w), p(self.gn_b))
        return x + F.conv1d(F.gelu(body), p(self.conv_w), p(self.conv_b), 1, 1, groups=k)

    def forward(self, h: Tensor) -> Tensor:
        # A counterfactual pass runs only the seeds it does not switch off (alpha 0).
        rows = [i for i, a in enumerate(self.cf_alphas) if a != 0.0 or not self.counterfactual]
        if not rows:
            return h
        envs = [self.members[i] for i in rows]
        whole = envs == list(range(self.n))
        cols = None if whole else self._cols(envs)
        hs = h if cols is None else h.index_select(1, cols)
        out = self._mix(hs, rows)
        return out if cols is None else h.index_copy(1, cols, out)

    def _mix(self, hs: Tensor, rows: list[int]) -> Tensor:
        inc = [self.incubating[i] and not self.counterfactual for i in rows]
        alphas = [self.cf_alphas[i] if self.counterfactual else self.alphas[i] for i in rows]
        if not any(inc) and len(set(alphas)) == 1:  # the separate path's scalar lerp
            return torch.lerp(hs, self._seed(hs, rows), alphas[0])
        mask = torch.tensor(inc).repeat_interleave(self.c).view(1, -1, 1)
        s = self._seed(torch.where(mask, hs.detach(), hs), rows)
        weight = torch.tensor(alphas, dtype=hs.dtype).repeat_interleave(self.c).view(1, -1, 1)
        return torch.where(mask, hs + (s - s.detach()), torch.lerp(hs, s, weight))

    def vector(self, e: int) -> list[Tensor]:
        i, c = self.members.index(e), self.c
        return [t[i * c : (i + 1) * c] for t in (self.gn_w, self.gn_b, self.conv_w, self.conv_b)]


class PerEnvSeeds(nn.Module):
    """One slot's seeds run env by env through their own ``SeedSlot`` (copies)."""

    def __init__(self, slots: dict[int, SeedSlot], n: int) -> None:
        super().__init__()
        self.slots, self.n = slots, n
        self.holder = nn.ModuleList(slots.values())
        self.optimizers = [OptimizerSpec("adam", LR).build(s.parameters()) for s in slots.values()]

    def forward(self, h: Tensor) -> Tensor:
        parts = list(h.chunk(self.n, dim=1))
        for e, slot in self.slots.items():
            parts[e] = slot(parts[e])
        return torch.cat(parts, dim=1)

    def set_counterfactual(self, on: bool) -> None:
        for slot in self.slots.values():
            slot.alpha_override = contribution_alpha(slot.stage) if on else None


class Grouped:
    """N envs as one grouped network; seeds batched per slot or run per env."""

    def __init__(self, models: list[MorphogeneticModel], per_env_seeds: bool) -> None:
        models = copy.deepcopy(models)
        self.n = len(models)
        self.host = GroupedHost([m.host for m in models])
        self.seeds: dict[str, Any] = {}
        for slot_id in SLOTS:
            live = {
                e: m.slot(slot_id) for e, m in enumerate(models) if m.slot(slot_id).stage.is_live
            }
            if live and per_env_seeds:
                self.seeds[slot_id] = PerEnvSeeds(live, self.n)
            elif live:
                self.seeds[slot_id] = SeedGroup(list(live.values()), list(live), self.n)
        groups = [g for g in self.seeds.values() if isinstance(g, SeedGroup)]
        per_env = [
            o for g in self.seeds.values() if isinstance(g, PerEnvSeeds) for o in g.optimizers
        ]
        self.optimizers = [OptimizerSpec("adam", LR).build(self.host.parameters())]
        self.optimizers += [OptimizerSpec("adam", LR).build(g.parameters()) for g in groups]
        self.optimizers += per_env

    def _forward(self, x: Tensor) -> Tensor:  # x: (N, B, 1, L)
        wide = x.permute(1, 0, 2, 3).reshape(x.shape[1], self.n * x.shape[2], x.shape[3])
        return self.host(wide, self.seeds)

    def train(self, x: Tensor, y: Tensor) -> None:
        self.host.train()
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        logits = self._forward(x)
        n, b, k = logits.shape
        losses = F.cross_entropy(logits.reshape(n * b, k), y.reshape(-1), reduction="none")
        losses.view(n, b).mean(dim=1).sum().backward()  # sum over envs: each gets its own grad
        (logits.detach().argmax(dim=2) == y).sum(dim=1).tolist()  # the env's accuracy bookkeeping
        for opt in self.optimizers:
            opt.step()

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        self.host.eval()
        return self._forward(x.unsqueeze(0).expand(self.n, *x.shape))

    def _accuracy(self, split: Any) -> list[float]:
        return _accuracy(self.logits, self.n, split)

    def validate(self, split: Any) -> list[float]:
        accs = self._accuracy(split)
        for group in self.seeds.values():  # one counterfactual pass per slot serves every env
            _set_counterfactual(group, True)
            self._accuracy(split)
            _set_counterfactual(group, False)
        return accs

    def vectors(self) -> list[Tensor]:
        out = []
        for e in range(self.n):
            seeds = [t for g in self.seeds.values() for t in _group_vector(g, e)]
            out.append(_flat(self.host.vector(e), *seeds))
        return out


def _accuracy(logits_fn: Callable[[Tensor], Tensor], n: int, split: Any) -> list[float]:
    """Per-env accuracy; counted in ints and divided in Python, as ``evaluate_split`` does."""
    correct = torch.zeros(n, dtype=torch.long)
    for start in range(0, len(split), VAL_CHUNK):
        logits = logits_fn(split.x[start : start + VAL_CHUNK])
        correct += (logits.argmax(dim=2) == split.y[start : start + VAL_CHUNK]).sum(dim=1)
    return [c / len(split) for c in correct.tolist()]


def _set_counterfactual(group: Any, on: bool) -> None:
    if isinstance(group, SeedGroup):
        group.counterfactual = on
    else:
        group.set_counterfactual(on)


def _group_vector(group: Any, e: int) -> list[Tensor]:
    if isinstance(group, SeedGroup):
        return group.vector(e) if e in group.members else []
    return list(group.slots[e].seed.parameters()) if e in group.slots else []


# ----------------------------------------------------------------------------- torch.func
class VMapped:
    """``vmap`` over N structurally identical models (``functional_call`` on a meta copy)."""

    def __init__(self, models: list[MorphogeneticModel]) -> None:
        models = copy.deepcopy(models)
        self.n = len(models)
        self.params, self.buffers = stack_module_state(models)  # type: ignore[arg-type]
        self.base = copy.deepcopy(models[0]).to("meta")
        self.opt = OptimizerSpec("adam", LR).build(self.params.values())  # type: ignore[arg-type]
        self.live = [s for s in self.base.iter_slots() if s.stage.is_live]

        def loss(p: dict, b: dict, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            logits = functional_call(self.base, (p, b), (x,))
            return F.cross_entropy(logits, y), logits

        self._grads = vmap(grad_and_value(loss, has_aux=True))
        self._eval = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)), (0, 0, None))

    def train(self, x: Tensor, y: Tensor) -> None:
        self.base.train()
        grads, (_, logits) = self._grads(self.params, self.buffers, x, y)
        (logits.argmax(dim=2) == y).sum(dim=1).tolist()
        for name, p in self.params.items():
            p.grad = grads[name]
        self.opt.step()

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        self.base.eval()
        return self._eval(self.params, self.buffers, x)

    def validate(self, split: Any) -> list[float]:
        accs = self._accuracy(split)
        for slot in self.live:  # same stage in every env, so one pass serves all
            slot.alpha_override = contribution_alpha(slot.stage)
            self._accuracy(split)
            slot.alpha_override = None
        return accs

    def _accuracy(self, split: Any) -> list[float]:
        return _accuracy(self.logits, self.n, split)

    def vectors(self) -> list[Tensor]:
        names = list(self.params)
        host = [k for k in names if k.startswith("host.")]
        seeds = [k for k in names if k.startswith("slots.")]
        return [_flat([self.params[k][e] for k in host + seeds]) for e in range(self.n)]


# ----------------------------------------------------------------------------- harness
VARIANTS: dict[str, Callable[[list[MorphogeneticModel]], Any]] = {
    "separate": Separate,
    "grouped": lambda models: Grouped(models, per_env_seeds=False),
    "grouped_per_env": lambda models: Grouped(models, per_env_seeds=True),
    "vmap": VMapped,
}


def applicable(variant: str, scenario: str) -> bool:
    """vmap needs one structure in every env: the mixed scenario has three."""
    return not (variant == "vmap" and scenario == "mixed")


class Batches:
    """Per-env seeded batch streams (the env's ``BatchStream``), gathered into (N, B, ...)."""

    def __init__(self, data: Any, n: int) -> None:
        self.data = data
        rng = [np.random.default_rng(e) for e in range(n)]
        self.streams = [BatchStream(len(data.train), BATCH, r, torch.device("cpu")) for r in rng]

    def next(self) -> tuple[Tensor, Tensor]:
        idx = torch.stack([s.next() for s in self.streams])
        return self.data.train.x[idx], self.data.train.y[idx]


def env_step(variant: Any, batches: Batches) -> list[float]:
    """One step of every env: the training batches, then validation and counterfactuals."""
    for _ in range(BATCHES):
        variant.train(*batches.next())
    return variant.validate(batches.data.val)


def time_steps(variant: Any, batches: Batches, steps: int) -> float:
    """Median seconds of one (all-env) step, after one warm-up step."""
    env_step(variant, batches)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        env_step(variant, batches)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def agreement(data: Any, scenario: str, n: int, steps: int) -> dict[str, Any]:
    """Max abs differences to ``separate`` after ``steps`` steps from the same state."""
    models = build_models(n, scenario)
    runs = {v: VARIANTS[v](models) for v in VARIANTS if applicable(v, scenario)}
    accs = {}
    for name, variant in runs.items():
        batches = Batches(data, n)
        for _ in range(steps):
            accs[name] = env_step(variant, batches)
    ref, x = runs.pop("separate"), data.val.x
    out: dict[str, Any] = {}
    for name, variant in runs.items():
        params = [
            float((a - b).abs().max())
            for a, b in zip(ref.vectors(), variant.vectors(), strict=True)
        ]
        out[name] = {
            "params_max_abs_diff": max(params),
            "val_logits_max_abs_diff": float((ref.logits(x) - variant.logits(x)).abs().max()),
            "val_accuracy_identical": accs[name] == accs["separate"],
            "val_accuracy_max_abs_diff": max(
                abs(a - b) for a, b in zip(accs[name], accs["separate"], strict=True)
            ),
        }
    return out


def measure(data: Any, args: argparse.Namespace, done: dict[str, Any]) -> dict[str, Any]:
    """Fill ``done["samples"][scenario][N][variant]`` with one median per repetition."""
    samples = done.setdefault("samples", {})
    for rep in range(args.reps):
        for scenario in args.scenarios:
            for n in args.ns:
                _measure_point(data, args, samples, scenario, n, rep)
        done["machine"] = {**machine(), "reps_done": rep + 1}
        write_json(args.out, {**done, "partial": rep + 1 < args.reps})
    return done


def _measure_point(
    data: Any, args: argparse.Namespace, samples: dict, scenario: str, n: int, rep: int
) -> None:
    point = samples.setdefault(scenario, {}).setdefault(str(n), {})
    names = [v for v in VARIANTS if applicable(v, scenario)]
    shift = rep % len(names)
    for name in names[shift:] + names[:shift]:  # rotate which variant goes first
        if len(point.setdefault(name, [])) > rep:
            continue  # resumed: this repetition is in the file already
        variant = VARIANTS[name](build_models(n, scenario))
        point[name].append(time_steps(variant, Batches(data, n), args.steps))


def summarise(samples: dict[str, Any]) -> dict[str, Any]:
    """Env-steps/s per variant and the median per-repetition ratio to ``separate``."""
    table: dict[str, Any] = {}
    for scenario, points in samples.items():
        for n, point in points.items():
            row = {v: int(n) / statistics.median(t) for v, t in point.items()}
            ratios = {
                v: statistics.median(s / b for s, b in zip(point["separate"], t, strict=False))
                for v, t in point.items()
                if v != "separate"
            }
            table.setdefault(scenario, {})[n] = {"env_steps_per_s": row, "ratio": ratios}
    return table


def markdown(report: dict[str, Any]) -> str:
    """The table: N, steps/s batched (each variant), steps/s separate, ratio."""
    load = report["machine"]["loadavg"]
    lines = [
        f"Env-steps/s, one torch thread, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} ({report['machine']['cpu_count']} cores); ratio = median over "
        "repetitions of (separate time / variant time).",
        "",
    ]
    for scenario, rows in report["table"].items():
        lines += [f"### {scenario}", "", "| N | separate | grouped | grouped_per_env | vmap |"]
        lines.append("|---:|---:|---:|---:|---:|")
        for n, row in rows.items():
            cells = [f"{row['env_steps_per_s']['separate']:.1f}"]
            for v in ("grouped", "grouped_per_env", "vmap"):
                sps, ratio = row["env_steps_per_s"].get(v), row["ratio"].get(v)
                cells.append("n/a" if sps is None else f"{sps:.1f} ({ratio:.2f}x)")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=2, help="timed steps per repetition")
    p.add_argument("--agree-n", type=int, default=4)
    p.add_argument("--agree-steps", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "batched_envs.json")
    p.add_argument("--resume", action="store_true", help="keep the repetitions in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(1)
    data = get_task("mnist1d").load_data()
    done: dict[str, Any] = {}
    if args.resume and args.out.exists():
        done = json.loads(args.out.read_text())
    done.update(benchmark="batched_envs", settings={k: str(v) for k, v in vars(args).items()})
    done["loadavg_before"] = os.getloadavg()
    if "agreement" not in done:
        done["agreement"] = {
            s: agreement(data, s, args.agree_n, args.agree_steps) for s in args.scenarios
        }
    report = measure(data, args, done)
    report["table"] = summarise(report["samples"])
    report["machine"] = machine()
    write_json(args.out, {**report, "partial": False})
    table = markdown(report)
    args.out.with_name(args.out.stem + "_table.md").write_text(table + "\n")
    print(table)
    print(json.dumps(report["agreement"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
