"""Baseline policies, the PPO loader, make_policy and run_episode (small, fast episodes)."""

from __future__ import annotations

import dataclasses
import zipfile

import gymnasium as gym
import numpy as np
import pytest

import envs
from benchmarks import baselines
from envs import ActionKind, GrowthAction
from kasmina import BlueprintRegistry, SeedStage, UnexpectedKeywordError, UnknownChoiceError
from simic.policies import (
    FAMILY_POLICY_NAMES,
    POLICY_NAMES,
    WAIT_INDEX,
    BlueprintCosts,
    EpisodeResult,
    GrowAllPolicy,
    HeuristicPolicy,
    MaskedPolicy,
    Policy,
    PolicyError,
    PolicyFileNotFoundError,
    PPOPolicy,
    make_policy,
    run_episode,
)
from tests.simic.helpers import TINY_RUN_KWARGS

ENV_ID = "simic/Grow-MNIST1D-v0"
SMALL = {"budget": 8, "batches_per_step": 2}


@pytest.fixture(scope="module")
def env() -> gym.Env:
    return gym.make(ENV_ID, **SMALL)


def _act(env: gym.Env, kind: str, slot: str | None = None, blueprint: str | None = None) -> int:
    return env.unwrapped.encode_action(GrowthAction(ActionKind(kind), slot, blueprint))


def _checked_episode(env: gym.Env, policy: Policy, seed: int) -> list[int]:
    """Play an episode asserting, step by step, that every action is allowed by the mask."""
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    actions = []
    while True:
        mask = env.unwrapped.action_masks()
        action = policy.predict(obs, mask)
        assert mask[action], f"{policy.name} chose masked action {action} at {len(actions)}"
        actions.append(action)
        obs, _, terminated, _, info = env.step(action)
        assert not info["invalid_action"]
        if terminated:
            return actions


# ------------------------------------------------------------------------------------ masks
@pytest.mark.parametrize("name", POLICY_NAMES)
def test_no_policy_ever_picks_a_masked_action(name):
    # strict=True: a masked action would raise instead of being a penalized no-op.
    env = gym.make(ENV_ID, **SMALL, strict=True, min_prune_age=1)
    policy = make_policy(name, env)
    assert isinstance(policy, Policy) and policy.name == name
    for seed in (0, 1, 2):
        _checked_episode(env, policy, seed)
    assert policy.masked_fallbacks == 0


class _Stubborn(MaskedPolicy):
    name = "stubborn"

    def __init__(self, env: gym.Env, action: int) -> None:
        super().__init__(env)
        self.wanted = action

    def choose(self, observation, action_masks):
        return self.wanted


def test_a_masked_or_out_of_range_choice_falls_back_to_wait(env):
    obs, _ = env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    fossilize = _act(env, "fossilize", "block1")
    assert not mask[fossilize]
    for wanted in (fossilize, -1, env.action_space.n):
        policy = _Stubborn(env, wanted)
        assert policy.predict(obs, mask) == WAIT_INDEX
        assert policy.masked_fallbacks == 1
    germinate = _act(env, "germinate", "block0", "attention")
    assert _Stubborn(env, germinate).predict(obs, mask) == germinate


def test_predict_rejects_wrong_shapes(env):
    obs, _ = env.reset(seed=0)
    policy = make_policy("nogrow", env)
    with pytest.raises(PolicyError, match="shape"):
        policy.predict(obs[None], env.unwrapped.action_masks())
    with pytest.raises(PolicyError, match="shape"):
        policy.predict(obs, env.unwrapped.action_masks()[:-1])


# ------------------------------------------------------------------------------------ random
def test_random_is_reproducible_per_seed_and_differs_across_seeds(env):
    policy = make_policy("random", env)
    state = np.random.get_state()[1].copy()
    first = run_episode(env, policy, 3)
    assert run_episode(env, policy, 3) == first
    others = [run_episode(env, policy, s).actions for s in (4, 5)]
    assert any(a != first.actions for a in others)
    assert (np.random.get_state()[1] == state).all()  # its own generator, never the global one


# ------------------------------------------------------------------------------------ growall
def test_growall_germinates_the_largest_blueprint_everywhere_and_fossilizes_it(env):
    result = run_episode(env, make_policy("growall", env), 0)
    costs = BlueprintCosts.of(env)
    assert costs.largest("block0") == costs.largest("block1") == "conv_heavy"
    spec = BlueprintRegistry.spec("cnn", "conv_heavy")
    assert costs.params["block1"]["conv_heavy"] == spec.param_count(16, spatial_dims=1)
    assert result.events[:2] == (
        (0, GrowthAction(ActionKind.GERMINATE, "block0", "conv_heavy")),
        (1, GrowthAction(ActionKind.GERMINATE, "block1", "conv_heavy")),
    )
    assert {a for _, a in result.events[2:]} == {
        GrowthAction(ActionKind.FOSSILIZE, "block0"),
        GrowthAction(ActionKind.FOSSILIZE, "block1"),
    }
    assert (result.seeds_germinated, result.seeds_fossilized, result.seeds_pruned) == (2, 2, 0)


def test_growall_picks_the_largest_of_a_restricted_set():
    env = gym.make(ENV_ID, **SMALL, blueprints=("depthwise", "attention"))
    assert GrowAllPolicy(env).largest == {"block0": "depthwise", "block1": "depthwise"}


# ------------------------------------------------------------------------------------ heuristic
def _observation(env: gym.Env, budget_used: float, **slots: tuple) -> np.ndarray:
    """A stub observation: ``slot=(stage, blueprint, contribution, steps_in_stage)``."""
    layout = env.unwrapped.layout
    blank = layout.read(layout.empty())
    views = {}
    for slot, empty in blank.slots.items():
        stage, blueprint, contribution, in_stage = slots.get(
            slot, (SeedStage.DORMANT, None, None, 0)
        )
        views[slot] = dataclasses.replace(
            empty,
            stage=stage,
            blueprint=blueprint,
            contribution=contribution,
            steps_in_stage=in_stage,
        )
    return layout.write(dataclasses.replace(blank, budget_used=budget_used, slots=views))


def _mask(env: gym.Env, **stages: tuple[SeedStage, int]) -> np.ndarray:
    base = env.unwrapped
    pairs = [stages.get(s, (SeedStage.DORMANT, 0)) for s in base.slots]
    return base.codec.masks([p[0] for p in pairs], [p[1] for p in pairs], 2)


LATE = 0.9  # past grow_until: the heuristic only judges seeds


@pytest.mark.parametrize(
    ("contribution", "in_stage", "expected"),
    [(-0.3, 0.2, "prune"), (0.0, 0.2, "prune"), (0.3, 0.0, "fossilize"), (-0.3, 0.0, "wait")],
)
def test_heuristic_judges_a_holding_seed_by_its_contribution(env, contribution, in_stage, expected):
    policy = make_policy("heuristic", env)
    policy.reset(0)
    obs = _observation(env, LATE, block1=(SeedStage.HOLDING, "conv_light", contribution, in_stage))
    action = policy.predict(obs, _mask(env, block1=(SeedStage.HOLDING, 5)))
    want = WAIT_INDEX if expected == "wait" else _act(env, expected, "block1")
    assert action == want


def test_heuristic_prunes_a_clearly_harmful_young_seed_only_when_the_mask_allows(env):
    policy = make_policy("heuristic", env)
    harmful = _observation(env, LATE, block0=(SeedStage.TRAINING, "conv_heavy", -0.9, 0.04))
    young = _mask(env, block0=(SeedStage.TRAINING, 1))
    old_enough = _mask(env, block0=(SeedStage.TRAINING, 2))
    assert policy.predict(harmful, young) == WAIT_INDEX
    assert policy.predict(harmful, old_enough) == _act(env, "prune", "block0")
    mild = _observation(env, LATE, block0=(SeedStage.TRAINING, "conv_heavy", -0.2, 0.04))
    assert policy.predict(mild, old_enough) == WAIT_INDEX


def test_heuristic_grows_the_widest_slot_first_and_skips_a_pruned_blueprint(env):
    policy = make_policy("heuristic", env)
    policy.reset(0)
    assert policy.predict(_observation(env, 0.0), _mask(env)) == _act(
        env, "germinate", "block1", "conv_light"
    )
    # The conv_light seed in block1 is pruned; when block1 is free again it tries the next one.
    live = (SeedStage.HOLDING, 3)
    policy.predict(
        _observation(
            env,
            0.2,
            block0=(SeedStage.FOSSILIZED, "conv_heavy", None, 0),
            block1=(SeedStage.HOLDING, "conv_light", -0.5, 0.2),
        ),
        _mask(env, block0=(SeedStage.FOSSILIZED, 3), block1=live),
    )
    policy.predict(
        _observation(
            env,
            0.24,
            block0=(SeedStage.FOSSILIZED, "conv_heavy", None, 0),
            block1=(SeedStage.PRUNED, "conv_light", None, 0),
        ),
        _mask(env, block0=(SeedStage.FOSSILIZED, 3), block1=(SeedStage.PRUNED, 0)),
    )
    again = policy.predict(
        _observation(env, 0.36, block0=(SeedStage.FOSSILIZED, "conv_heavy", None, 0)),
        _mask(env, block0=(SeedStage.FOSSILIZED, 3)),
    )
    assert again == _act(env, "germinate", "block1", "depthwise")


def test_heuristic_stops_growing_late_in_the_budget(env):
    policy = make_policy("heuristic", env)
    assert policy.predict(_observation(env, 0.7), _mask(env)) == WAIT_INDEX


def test_heuristic_thresholds_are_validated(env):
    with pytest.raises(PolicyError, match="grow_until"):
        HeuristicPolicy(env, grow_until=1.5)
    with pytest.raises(PolicyError, match="below fossilize_above"):
        HeuristicPolicy(env, fossilize_above=0.0, prune_at_or_below=0.1)
    with pytest.raises(UnexpectedKeywordError, match="plateau"):
        HeuristicPolicy(env, platau=0.1)
    with pytest.raises(UnknownChoiceError, match="conv_light"):
        HeuristicPolicy(env, blueprints=("conv_lite",))
    with pytest.raises(UnknownChoiceError, match="last_first"):
        HeuristicPolicy(env, slot_order="last")
    policy = HeuristicPolicy(env, blueprints=("attention",), slot_order="first_first")
    assert policy.rotation == {"block0": ("attention",), "block1": ("attention",)}
    assert policy.slot_preference == ("block0", "block1")


# ------------------------------------------------------------------------------------ episodes
def test_run_episode_result_is_consistent_and_deterministic(env):
    policy = make_policy("heuristic", env)
    result = run_episode(env, policy, 7)
    assert isinstance(result, EpisodeResult) and result.policy == "heuristic"
    assert len(result.actions) == len(result.rewards) == SMALL["budget"]
    assert len(result.val_accuracies) == SMALL["budget"] + 1
    assert result.return_ == pytest.approx(sum(result.rewards))
    assert [s for s, _ in result.events] == [i for i, a in enumerate(result.actions) if a]
    decode = env.unwrapped.decode_action
    assert [a for _, a in result.events] == [decode(a) for a in result.actions if a]
    assert all(isinstance(a, GrowthAction) for _, a in result.events)
    kinds = [a.kind for _, a in result.events]
    assert result.seeds_germinated == kinds.count(ActionKind.GERMINATE)
    assert 0.0 <= result.test_accuracy <= 1.0 and result.param_growth > 0
    assert run_episode(env, policy, 7) == result


def test_policies_need_only_construction_time_knowledge_of_the_env():
    # Built from an env that was never reset (no model), played on another instance.
    policy = make_policy("growall", envs.GrowthEnv(**SMALL))
    result = run_episode(gym.make(ENV_ID, **SMALL), policy, 0)
    assert result.seeds_germinated == 2


# ------------------------------------------------------------------------------------ PPO
def test_a_saved_maskable_ppo_loads_through_make_policy_and_plays(tiny_run):
    env = gym.make(ENV_ID, **TINY_RUN_KWARGS)
    policy = make_policy(str(tiny_run / "model.zip"), env)
    assert isinstance(policy, PPOPolicy) and policy.name == "ppo:model.zip"
    strict = gym.make(ENV_ID, **TINY_RUN_KWARGS, strict=True)
    _checked_episode(strict, policy, 0)
    result = run_episode(env, policy, 1)
    assert result == run_episode(env, policy, 1)  # deterministic actions
    assert policy.masked_fallbacks == 0


def test_a_ppo_policy_trained_on_other_spaces_is_refused(tiny_run):
    other = gym.make(ENV_ID, **TINY_RUN_KWARGS, blueprints=("conv_light",))
    with pytest.raises(PolicyError, match="observation space"):
        make_policy(str(tiny_run / "model.zip"), other, transfer=True)  # spaces still checked


# ------------------------------------------------------------------------------------ factory
def test_make_policy_suggests_the_closest_name(env):
    with pytest.raises(UnknownChoiceError, match="did you mean 'heuristic'") as info:
        make_policy("heurstic", env)
    assert set(info.value.choices) == set(POLICY_NAMES) | set(FAMILY_POLICY_NAMES)


def test_make_policy_names_a_missing_path(env, tmp_path):
    missing = tmp_path / "nope" / "agent.zip"
    with pytest.raises(PolicyFileNotFoundError, match="does not exist") as info:
        make_policy(str(missing), env)
    assert isinstance(info.value, FileNotFoundError) and str(missing) in str(info.value)


def test_make_policy_reports_a_corrupt_file(env, tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    not_sb3 = tmp_path / "other.zip"
    with zipfile.ZipFile(not_sb3, "w") as z:
        z.writestr("hello.txt", "hi")
    for path in (garbage, not_sb3):
        with pytest.raises(PolicyError, match="cannot load") as info:
            make_policy(str(path), env)
        assert str(path) in str(info.value)


def test_make_policy_refuses_a_non_growth_env():
    with pytest.raises(PolicyError, match="GrowthEnv"):
        make_policy("nogrow", gym.make("CartPole-v1"))


# ------------------------------------------------------------------------------------ benchmark
def test_baselines_benchmark_runs(capsys):
    argv = ["--seeds", "2", "--budget", "3", "--batches-per-step", "1", "--first-seed", "0"]
    assert baselines.main(argv) == 0
    out = capsys.readouterr().out
    for name in (*POLICY_NAMES, "script"):
        assert f"  {name} " in out


@pytest.mark.parametrize("name", ["schedule-best", "heuristic-tuned"])
def test_tuned_tables_refuse_episode_settings_they_were_not_tuned_at(name):
    with pytest.raises(PolicyError, match=r"budget=10 \(tuned at 25\)"):
        make_policy(name, envs.FamilyGrowthEnv(budget=10))
    with pytest.raises(PolicyError, match="needs a task family env"):
        make_policy(name, envs.GrowthEnv("mnist1d", budget=25))
    make_policy(name, envs.FamilyGrowthEnv(device="cpu"))  # settings that change nothing pass
