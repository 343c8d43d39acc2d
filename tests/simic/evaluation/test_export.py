"""Exported grown models: they load back and reproduce the episode's test accuracy exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs import ActionKind, GrowthAction
from kasmina import SeedStage
from simic.evaluation.export import (
    FORMAT_VERSION,
    ExportError,
    GrownModelNotFoundError,
    evaluate_grown_model,
    export_grown_model,
    load_grown_model,
)

FAST = {"training_ticks": 1, "blending_ticks": 1, "min_prune_age": 1}
G, F, P, W = ActionKind.GERMINATE, ActionKind.FOSSILIZE, ActionKind.PRUNE, ActionKind.WAIT


@dataclass(frozen=True)
class Case:
    env_id: str
    kwargs: dict[str, Any]
    plan: tuple[tuple, ...]
    final: dict[str, SeedStage]


CASES = {
    # A seed pruned, a seed fossilized, and a live one still BLENDING at the end.
    "cnn": Case(
        "simic/Grow-MNIST1D-v0",
        {"budget": 8, "batches_per_step": 2, "embargo_ticks": 1, **FAST},
        (
            (G, "block0", "conv_light"),
            (G, "block1", "depthwise"),
            (P, "block1"),
            (F, "block0"),
            (W,),
            (W,),
            (G, "block1", "conv_heavy"),
            (W,),
        ),
        {"block0": SeedStage.FOSSILIZED, "block1": SeedStage.BLENDING},
    ),
    # A fossilized seed and a pruned one still EMBARGOED at the end.
    "transformer": Case(
        "simic/Grow-MNIST1D-Transformer-v0",
        {"budget": 4, "batches_per_step": 2, "embargo_ticks": 2, **FAST},
        ((G, "layer0", "lora"), (G, "layer1", "mlp_small"), (P, "layer1"), (F, "layer0")),
        {"layer0": SeedStage.FOSSILIZED, "layer1": SeedStage.EMBARGOED},
    ),
}
MID = 4  # the CNN episode is also exported after this many steps, mid-episode


def _rng_states(env: envs.GrowthEnv) -> tuple:
    return (
        torch.get_rng_state(),
        np.random.get_state()[1].tobytes(),
        random.getstate(),
        env.np_random.bit_generator.state,
        env._episode.batches.rng.bit_generator.state,
    )


def _same_rng(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0], b[0]) and a[1:] == b[1:]


@dataclass(frozen=True)
class Episode:
    env: gym.Env
    observations: list[np.ndarray]
    infos: list[dict[str, Any]]
    path: Path
    mid_path: Path | None


def _export_unchanged(env: gym.Env, path: Path) -> Path:
    """Export mid-episode, checking that RNGs, weights and the training flag are untouched."""
    base = env.unwrapped
    rng, weights = _rng_states(base), {k: v.clone() for k, v in base.model.state_dict().items()}
    exported = export_grown_model(env, path)
    assert _same_rng(rng, _rng_states(base))
    assert base.model.training
    assert all(torch.equal(v, weights[k]) for k, v in base.model.state_dict().items())
    return exported


def _play(case: Case, folder: Path | None) -> Episode:
    env = gym.make(case.env_id, **case.kwargs)
    base = env.unwrapped
    obs, _ = env.reset(seed=0)
    observations, infos, mid_path = [obs], [], None
    for i, (kind, *args) in enumerate(case.plan):
        obs, _, terminated, _, info = env.step(base.encode_action(GrowthAction(kind, *args)))
        assert not info["invalid_action"], info["action"]
        observations.append(obs)
        infos.append(info)
        if folder is not None and i + 1 == MID and not terminated:
            mid_path = _export_unchanged(env, folder / "mid.pt")
    assert terminated
    path = folder / "grown.pt" if folder is not None else Path()
    if folder is not None:
        export_grown_model(env, path, metadata={"policy": "scripted", "episode_seed": 0})
    return Episode(env, observations, infos, path, mid_path)


@pytest.fixture(scope="module", params=sorted(CASES))
def episode(request, tmp_path_factory) -> tuple[Case, Episode]:
    case = CASES[request.param]
    return case, _play(case, tmp_path_factory.mktemp(request.param))


def test_loaded_model_reproduces_the_recorded_test_accuracy(episode):
    case, ep = episode
    base = ep.env.unwrapped
    grown = load_grown_model(ep.path)
    assert grown.test_accuracy == ep.infos[-1]["test_accuracy"]
    assert evaluate_grown_model(grown) == grown.test_accuracy
    assert {s.slot_id: s.stage for s in grown.model.iter_slots()} == case.final
    assert grown.model.describe_seeds() == base.model.describe_seeds()
    assert grown.param_counts == base.model.param_counts() == grown.model.param_counts()
    assert grown.param_counts.total == ep.infos[-1]["params"]
    assert grown.metadata == {"policy": "scripted", "episode_seed": 0}
    assert (grown.task, grown.kwargs) == (base.task.name, case.kwargs)
    assert grown.chunk_size == base.config.val_batch_size
    assert not grown.model.training


def test_outputs_on_the_test_set_are_identical(episode):
    _, ep = episode
    base = ep.env.unwrapped
    grown = load_grown_model(ep.path, device="cpu")
    x = base.data.test.x
    base.model.eval()
    try:
        with torch.no_grad():
            assert torch.equal(grown.model(x), base.model(x))
    finally:
        base.model.train()


def test_mid_episode_export_changes_nothing_and_reloads(tmp_path):
    # The twin plays the same episode without exporting: every step must be identical.
    exported, twin = _play(CASES["cnn"], tmp_path), _play(CASES["cnn"], None)
    for a, b in zip(exported.observations, twin.observations, strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(exported.infos, twin.infos, strict=True):
        assert a == b
    mid = load_grown_model(exported.mid_path)
    assert evaluate_grown_model(mid) == mid.test_accuracy
    assert mid.metadata == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grown.pt", "mid.pt"]  # no temp files


# ------------------------------------------------------------------------------------ errors
def test_missing_file(tmp_path):
    with pytest.raises(GrownModelNotFoundError, match=r"no grown-model file at .*nope\.pt"):
        load_grown_model(tmp_path / "nope.pt")
    assert issubclass(GrownModelNotFoundError, FileNotFoundError)


def _payload(episode) -> dict:
    return torch.load(episode[1].path, weights_only=True)


@pytest.mark.parametrize(
    "write,match",
    [
        (lambda p, ep: p.write_bytes(b"\x00garbage" * 50), "not a readable grown-model file"),
        (
            lambda p, ep: p.write_bytes(ep[1].path.read_bytes()[:2000]),
            "not a readable grown-model file",
        ),
        (lambda p, ep: torch.save({"weights": torch.ones(2)}, p), "not a grown-model file"),
        (lambda p, ep: torch.save(gym.spaces.Discrete(3), p), "not a readable grown-model file"),
        (
            lambda p, ep: torch.save({**_payload(ep), "format_version": 99}, p),
            f"format version 99; this simic reads version {FORMAT_VERSION}",
        ),
        (
            lambda p, ep: torch.save({k: v for k, v in _payload(ep).items() if k != "seeds"}, p),
            r"damaged grown-model file: it lacks \['seeds'\]",
        ),
        (
            lambda p, ep: torch.save(
                {**_payload(ep), "state_dict": dict(list(_payload(ep)["state_dict"].items())[1:])},
                p,
            ),
            r"(?s)cannot rebuild the grown model: .*Missing key",
        ),
        (
            lambda p, ep: torch.save(
                {**_payload(ep), "param_counts": {"host": 1, "fossilized": 0, "live": 0}}, p
            ),
            "the file recorded",
        ),
    ],
    ids=[
        "garbage",
        "truncated",
        "foreign",
        "pickled-object",
        "version",
        "no-seeds",
        "weights",
        "counts",
    ],
)
def test_bad_files_raise_clearly(episode, tmp_path, write, match):
    bad = tmp_path / "bad.pt"
    write(bad, episode)
    with pytest.raises(ExportError, match=match):
        load_grown_model(bad)


def test_export_refuses_what_it_cannot_store(tmp_path):
    env = envs.GrowthEnv("mnist1d", budget=2, reward=lambda ctx: 0.0)
    with pytest.raises(ExportError, match=r"call reset\(\)"):
        export_grown_model(env, tmp_path / "x.pt")
    env.reset(seed=0)
    with pytest.raises(ExportError, match="environment keyword argument reward=<function"):
        export_grown_model(env, tmp_path / "x.pt")
    ok = envs.GrowthEnv("mnist1d", budget=2)
    ok.reset(seed=0)
    with pytest.raises(ExportError, match="metadata when=<object"):
        export_grown_model(ok, tmp_path / "x.pt", metadata={"when": object()})
    with pytest.raises(ExportError, match=r"needs a GrowthEnv .* got Discrete"):
        export_grown_model(gym.spaces.Discrete(2), tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []
