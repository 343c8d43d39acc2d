"""Shared builders for kasmina tests: small hosts of every kind, built deterministically.

Fixtures live in this folder's ``conftest.py``; test modules import builders from here.
"""

from __future__ import annotations

import torch

from kasmina import CNNHost, HostNetwork, MorphogeneticModel, TransformerHost, seeded_init

HOST_KINDS = ("cnn1d", "cnn2d", "transformer")


def build_host(kind: str) -> HostNetwork:
    with seeded_init(0):
        if kind == "cnn1d":
            return CNNHost(1, 10, (8, 16), spatial_dims=1)
        if kind == "cnn2d":
            return CNNHost(3, 10, (8, 16), spatial_dims=2)
        if kind == "transformer":
            return TransformerHost(1, 10, seq_len=12, dim=16, layers=2, heads=2)
    raise ValueError(kind)


def host_input(kind: str, batch: int = 6, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = {"cnn1d": (batch, 1, 40), "cnn2d": (batch, 3, 8, 8), "transformer": (batch, 12, 1)}
    return torch.randn(*shape[kind], generator=g)


def make_model(kind: str, **kwargs: object) -> MorphogeneticModel:
    return MorphogeneticModel(build_host(kind), **kwargs)
