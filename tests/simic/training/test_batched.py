"""``--vectorization batched``: the SB3 adapter over BatchedGrowthEnv, the config field, and
MaskablePPO training, resuming and playing from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from kasmina.errors import UserError
from simic.cli import main
from simic.common import provenance
from simic.common.envutil import make_env
from simic.common.errors import SimicError
from simic.common.seeding import TrainingSeeds
from simic.training import TrainConfig
from simic.training.batched import BatchedVecEnv
from simic.training.batched_workers import SplitBatchedVecEnv
from simic.training.config import ADDED_SETTINGS
from tests.envs.helpers import BATCHED_ATOL, BATCHED_RTOL
from tests.simic.helpers import SMALL

ENV = "simic/Grow-MNIST1D-v0"
KWARGS = {"budget": 2, "batches_per_step": 1, "batch_size": 32}


def _worker() -> TrainingSeeds:
    return TrainingSeeds(Monitor(make_env(ENV, KWARGS)))


def _step_alike(vec, reference, actions):
    """Step both VecEnvs; observations and rewards agree within the batched tolerance, dones
    exactly. Returns both steps' infos."""
    obs, rewards, dones, infos = vec.step(actions)
    obs_r, rewards_r, dones_r, infos_r = reference.step(actions)
    np.testing.assert_allclose(obs, obs_r, rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
    np.testing.assert_allclose(rewards, rewards_r, rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
    np.testing.assert_array_equal(dones, dones_r)
    return infos, infos_r


def test_adapter_plays_what_dummy_vec_env_of_training_envs_plays() -> None:
    """Seeds, SB3 autoreset, terminal_observation, Monitor's episode info and masks."""
    batched = BatchedVecEnv(ENV, 2, KWARGS)
    dummy = DummyVecEnv([_worker, _worker])
    batched.seed(5), dummy.seed(5)
    np.testing.assert_array_equal(batched.reset(), dummy.reset())
    np.testing.assert_array_equal(get_action_masks(batched), get_action_masks(dummy))
    for _ in range(5):  # two episodes and a bit: one autoreset each
        infos, infos_d = _step_alike(batched, dummy, np.zeros(2, dtype=int))
        for info, info_d in zip(infos, infos_d, strict=True):
            assert ("terminal_observation" in info) == ("terminal_observation" in info_d)
            if "episode" in info_d:
                assert info["episode"]["l"] == info_d["episode"]["l"]
                assert info["episode"]["r"] == pytest.approx(
                    info_d["episode"]["r"], abs=BATCHED_ATOL
                )
    assert batched.env_method("action_masks", indices=[1])[0].shape == (13,)
    assert batched.get_attr("task")[0].name == "mnist1d"
    batched.close(), dummy.close()


def test_vectorization_is_checked_and_part_of_the_identity() -> None:
    config = TrainConfig(vectorization="batched", n_envs=4)
    assert config.identity()["vectorization"] == "batched"
    assert TrainConfig().identity()["vectorization"] == "subprocess"
    with pytest.raises(UserError, match="'batched', 'subprocess'"):
        TrainConfig(vectorization="threads")
    with pytest.raises(SimicError, match="simic/Grow-MNIST1D-v0"):
        TrainConfig(env="simic/Grow-MNIST1D-Transformer-v0", vectorization="batched")
    with pytest.raises(SimicError, match="engine sb3"):
        TrainConfig(engine="rllib", vectorization="batched")


@pytest.mark.slow
def test_ppo_trains_resumes_and_plays_batched(tmp_path, capsys) -> None:
    run = tmp_path / "RUN"
    base = ["train", "--out", str(run), "--eval-every", "0", *SMALL]
    batched = ["--vectorization", "batched", "--n-envs", "2"]
    assert main([*base, *batched, "--timesteps", "64", "--checkpoint-every", "32"]) == 0
    assert json.loads((run / "config.json").read_text())["vectorization"] == "batched"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "vectorization": "subprocess"}))
    assert main(["train", "--resume", str(run), "--timesteps", "128", "--no-progress"]) != 0
    assert "vectorization 'batched' in the checkpoint" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(run), "--timesteps", "128", "--no-progress"]) == 0
    out = tmp_path / "eval"
    argv = ["evaluate", "--policy", str(run), "--episodes", "1", "--out", str(out)]
    assert main([*argv, "--env-kwargs", "budget=6", "batches_per_step=1"]) == 0
    assert (out / "results.json").exists()


def test_checkpoints_older_than_the_setting_resume_as_subprocess_runs(tmp_path) -> None:
    identity = TrainConfig().identity()
    older = {k: v for k, v in identity.items() if k != "vectorization"}
    provenance.check_resume(tmp_path, identity, None, None, older, added=ADDED_SETTINGS)
    batched = TrainConfig(vectorization="batched", n_envs=2).identity()
    with pytest.raises(SimicError, match="vectorization"):
        provenance.check_resume(tmp_path, batched, None, None, older, added=ADDED_SETTINGS)


@pytest.mark.slow
def test_split_over_workers_plays_what_one_process_plays() -> None:
    one = BatchedVecEnv(ENV, 3, KWARGS)
    split = SplitBatchedVecEnv(ENV, 3, 2, KWARGS)
    try:
        one.seed(9), split.seed(9)
        np.testing.assert_allclose(split.reset(), one.reset(), rtol=BATCHED_RTOL, atol=BATCHED_ATOL)
        np.testing.assert_array_equal(get_action_masks(split), get_action_masks(one))
        assert split.get_attr("task", indices=[2])[0].name == "mnist1d"
        # MaskablePPO asks every rollout; answered by one worker, without pickling any env
        assert is_masking_supported(split) and is_masking_supported(one)
        assert not split.has_attr("no_such_attribute") and not one.has_attr("no_such_attribute")
        for _ in range(3):
            infos, infos_1 = _step_alike(split, one, np.zeros(3, dtype=int))
            assert [("episode" in i) for i in infos] == [("episode" in i) for i in infos_1]
    finally:
        split.close(), one.close()
    with pytest.raises(SimicError, match="vectorization batched"):
        TrainConfig(batched_workers=2, n_envs=2)
