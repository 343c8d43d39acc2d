"""Context bumps: a task family's context features, encoded so that instances get own weights."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import MaskablePPO

import envs  # noqa: F401  (registers the ids)
from simic.cli import main
from simic.common.errors import SimicError
from simic.training.config import PPOConfig, TrainConfig
from simic.training.context_features import ContextBumps, context_indices, policy_kwargs

FAMILY_KWARGS = ["budget=2", "batches_per_step=1"]


def _space(size: int) -> spaces.Box:
    return spaces.Box(0.0, 2.0, (size,), dtype=np.float32)


def test_the_raw_observation_comes_first_then_one_bump_per_centre():
    extractor = ContextBumps(_space(4), indices=[1, 3], bumps=3)
    assert extractor.features_dim == 4 + 2 * 3
    obs = torch.tensor([[0.9, 0.0, 0.7, 0.5]])
    out = extractor(obs)
    assert torch.equal(out[:, :4], obs)
    # centres 0, 0.5, 1 and width 0.5: feature 1 (= 0) peaks on the first, feature 3 on the second
    expected = np.exp(-0.5 * np.array([0.0, 1.0, 4.0, 1.0, 0.0, 1.0]))
    np.testing.assert_allclose(out[0, 4:].numpy(), expected, rtol=1e-6)


def test_neighbouring_prices_differ_more_in_bumps_than_as_a_scalar():
    extractor = ContextBumps(_space(1), indices=[0], bumps=7)
    low, high = extractor(torch.tensor([[0.0]])), extractor(torch.tensor([[1 / 3]]))
    assert float((low - high)[:, 1:].abs().max()) > 0.8 > 1 / 3


@pytest.mark.parametrize(("indices", "bumps"), [([], 3), ([4], 3), ([-1], 3), ([0], 1)])
def test_bad_indices_or_bump_counts_are_refused(indices, bumps):
    with pytest.raises(SimicError):
        ContextBumps(_space(4), indices=indices, bumps=bumps)


def test_the_context_indices_are_the_family_observation_context_features():
    family = gym.make("simic/Grow-Family-v0").unwrapped
    indices = context_indices(family.layout, "simic/Grow-Family-v0")
    names = [family.layout.features[i].name for i in indices]
    assert names == ["context.price", "context.host_size"]
    plain = gym.make("simic/Grow-MNIST1D-v0").unwrapped
    with pytest.raises(SimicError, match="observes none"):
        context_indices(plain.layout, "simic/Grow-MNIST1D-v0")
    assert policy_kwargs(indices, 5)["features_extractor_kwargs"] == {
        "indices": list(indices),
        "bumps": 5,
    }


@pytest.mark.parametrize("bumps", [1, -1, 2.5])
def test_a_bad_bump_count_is_refused_in_the_config(bumps):
    with pytest.raises(SimicError, match="context_bumps"):
        PPOConfig(context_bumps=bumps)


def test_rllib_refuses_context_bumps():
    with pytest.raises(SimicError, match="no RLlib counterpart"):
        TrainConfig(engine="rllib", ppo=PPOConfig(context_bumps=3))


def test_a_family_run_trains_and_saves_a_policy_with_context_bumps(tmp_path):
    run = tmp_path / "RUN"
    argv = ["train", "--env", "simic/Grow-Family-v0", "--out", str(run), "--timesteps", "32"]
    argv += ["--env-kwargs", *FAMILY_KWARGS, "--n-steps", "32", "--batch-size", "32"]
    argv += ["--n-epochs", "1", "--eval-every", "0", "--no-progress", "--context-bumps", "4"]
    assert main(argv) == 0
    model = MaskablePPO.load(run / "model.zip")
    assert isinstance(model.policy.features_extractor, ContextBumps)
    size = model.observation_space.shape[0]
    assert model.policy.features_dim == size + 2 * 4
    out = tmp_path / "eval"
    argv = ["evaluate", "--env", "simic/Grow-Family-v0", "--policy", str(run / "model.zip")]
    argv += ["--env-kwargs", *FAMILY_KWARGS, "--episodes", "1", "--out", str(out)]
    assert main(argv) == 0 and (out / "results.json").is_file()


def test_a_plain_env_with_context_bumps_is_refused_before_any_file(tmp_path, capsys):
    run = tmp_path / "RUN"
    assert main(["train", "--out", str(run), "--context-bumps", "4"]) == 2
    assert "observes none" in capsys.readouterr().err
    assert not run.exists()
