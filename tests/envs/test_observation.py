"""The declared observation layout is what the environment returns, read back through its views."""

import dataclasses

import numpy as np
import pytest

import envs
from envs.evaluation import evaluate_split
from envs.observation import UNKNOWN, ContextView, ObservationView, SlotView
from kasmina import SeedStage
from tests.envs.helpers import act, fast_env


def test_layout_table_documents_every_feature(make_fast_env):
    env = make_fast_env()
    table = env.layout.table()
    assert len(env.layout) == env.observation_space.shape[0]
    for feature in env.layout.features:
        assert f"`{feature.name}`" in table
    assert table.count("\n") == len(env.layout) + 1


def test_reset_observation_marks_unmeasured_values_unknown(make_fast_env):
    env = make_fast_env()
    obs, info = env.reset(seed=0)
    view = env.layout.read(obs)
    for name in (
        "train_loss",
        "train_accuracy",
        "val_accuracy_delta",
        "val_accuracy_delta3",
        "train_loss_delta",
    ):
        assert getattr(view, name) is None, name
    assert view.slots["block0"].contribution is None and view.slots["block1"].grad_ratio is None
    assert view.val_accuracy == pytest.approx(info["val_accuracy"])
    assert view.budget_used == 0.0 and view.param_growth == 0.0
    assert view.memory_pressure == 0.0 and view.checkpointing == 0.0
    assert {s.stage for s in view.slots.values()} == {SeedStage.DORMANT}


def test_observation_values_follow_the_episode(make_fast_env):
    env = make_fast_env(budget=8, training_ticks=2, blending_ticks=2)
    env.reset(seed=3)
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    for t in range(2, 6):
        obs, _, _, _, info = env.step(0)
        view = env.layout.read(obs)
        block0, block1 = view.slots["block0"], view.slots["block1"]
        assert view.budget_used == pytest.approx(t / 8)
        assert view.val_accuracy == pytest.approx(info["val_accuracy"])
        assert view.train_accuracy == pytest.approx(info["train_accuracy"])
        assert view.train_loss == pytest.approx(min(info["train_loss"] / np.log(10), 3), rel=1e-6)
        assert block1.stage is env.model.slot("block1").stage
        assert block1.blueprint == "conv_heavy"
        assert block1.alpha == pytest.approx(env.model.slot("block1").alpha)
        assert block1.contribution is not None and -1 <= block1.contribution <= 1
        assert block1.grad_ratio is not None and 0 < block1.grad_ratio < 1
        assert block0.contribution is None
        assert view.param_growth == pytest.approx(info["param_growth"] / (1 + info["param_growth"]))
    assert view.val_accuracy_delta3 is not None


def test_contribution_is_the_counterfactual_accuracy_difference(make_fast_env):
    env = make_fast_env(budget=10, training_ticks=1, blending_ticks=1)
    env.reset(seed=2)
    env.step(act(env, "germinate", "block1", "conv_heavy"))
    while env.model.slot("block1").stage is not SeedStage.HOLDING:
        env.step(0)
    obs, *_ = env.step(0)  # measured in HOLDING, where the lifecycle tick changes nothing
    chunk = env.config.val_batch_size
    with_seed = evaluate_split(env.model, env.data.val, chunk)[1]
    with env.model.switched_off("block1"):
        without = evaluate_split(env.model, env.data.val, chunk)[1]
    assert env.layout.read(obs).slots["block1"].contribution == pytest.approx(
        np.clip(5 * (with_seed - without), -1, 1), abs=1e-6
    )


def _view(layout: envs.ObservationLayout, **changes) -> ObservationView:
    return dataclasses.replace(layout.read(layout.empty()), **changes)


def test_observation_write_clips_and_keeps_sentinels():
    layout = envs.ObservationLayout(["s"], ["b"])
    slot = dataclasses.replace(layout.read(layout.empty()).slots["s"], contribution=7.0)
    view = _view(layout, val_loss=np.inf, val_accuracy=np.nan, slots={"s": slot})
    out = layout.write(view)
    back = layout.read(out)
    assert back.val_loss == 3.0 and back.val_accuracy == 0.0
    assert back.slots["s"].contribution == 1.0 and back.train_loss is None
    assert out[layout.index["train_loss"]] == UNKNOWN
    assert layout.space.contains(out)


def test_every_feature_is_a_field_of_a_view():
    layout = envs.ObservationLayout(["a", "b"], ["x", "y", "z"])
    globals_ = [
        f.name for f in dataclasses.fields(ObservationView) if f.name not in ("slots", "context")
    ]
    per_slot = [f.name for f in dataclasses.fields(SlotView)[2:]]  # after the two one-hots
    one_hots = len(SeedStage) + len(layout.blueprints)
    assert [f.name for f in layout.features[: len(globals_)]] == globals_
    assert len(layout) == len(globals_) + len(layout.slots) * (one_hots + len(per_slot))


def _episode_observations() -> list[np.ndarray]:
    env = fast_env(budget=6)
    observations = [env.reset(seed=1)[0]]
    for action in (act(env, "germinate", "block1", "conv_light"), 0, 0, 0, 0, 0):
        observations.append(env.step(action)[0])
    return observations


def test_read_then_write_gives_back_the_vector_bit_for_bit(make_fast_env):
    layout = make_fast_env().layout
    stages_seen = set()
    for obs in _episode_observations():
        view = layout.read(obs)
        stages_seen.add(view.slots["block1"].stage)
        assert layout.write(view).tobytes() == obs.tobytes()
    assert len(stages_seen) >= 3  # the views covered a seed's life, not only DORMANT slots


def test_write_then_read_gives_back_the_view():
    layout = envs.ObservationLayout(["s0", "s1"], ["b0", "b1"])
    slots = {
        "s0": SlotView(SeedStage.HOLDING, "b1", 1.0, 0.25, 0.5, -0.5, 0.125),
        "s1": SlotView(SeedStage.PRUNED, "b0", 0.0, 0.0, 0.25, None, None),
    }
    values = [0.5, None, 1.5, None, 0.75, -0.25, None, 0.5, 0.875, 0.25, None, 1.0]
    names = [
        f.name for f in dataclasses.fields(ObservationView) if f.name not in ("slots", "context")
    ]
    view = ObservationView(**dict(zip(names, values, strict=True)), slots=slots)
    assert layout.read(layout.write(view)) == view


def test_read_refuses_a_vector_of_the_wrong_shape():
    layout = envs.ObservationLayout(["s"], ["b"])
    with pytest.raises(ValueError, match="shape"):
        layout.read(np.zeros(len(layout) + 1, dtype=np.float32))


def test_a_context_layout_appends_the_context_and_round_trips_it():
    plain = envs.ObservationLayout(["s"], ["b"])
    layout = envs.ObservationLayout(["s"], ["b"], context=True)
    assert [f.name for f in layout.features] == [
        *(f.name for f in plain.features),
        "context.price",
        "context.host_size",
    ]
    view = _view(layout, context=ContextView(price=1.0 / 3, host_size=0.5))
    back = layout.read(layout.write(view))
    assert back.context == ContextView(price=np.float32(1.0 / 3), host_size=0.5)
    clipped = layout.read(layout.write(_view(layout, context=ContextView(5.0, -1.0))))
    assert clipped.context == ContextView(2.0, 0.0)
    assert plain.read(plain.empty()).context is None
    with pytest.raises(ValueError, match="needs one"):
        layout.write(dataclasses.replace(view, context=None))
