"""kasmina.description: the seed-description format on its own (the model's round trip through
describe_seeds / restore_seeds is tested in test_export)."""

from __future__ import annotations

import json

import pytest

from kasmina import BlueprintRegistry, KasminaError, LifecycleConfig, SeedStage
from kasmina.description import SlotRecord, describe_seeds, parse_description, parse_entry
from tests.kasmina.helpers import make_model


def _grown():
    model = make_model("cnn1d", lifecycle=LifecycleConfig(training_ticks=1, blending_ticks=3))
    model.germinate("block0", "conv_light", kernel=5)
    for _ in range(3):  # TRAINING, then BLENDING one tick into the ramp
        model.advance_lifecycle()
    model.germinate("block1", "conv_heavy")
    return model


def test_description_round_trips_through_json_into_the_same_records():
    model = _grown()
    described = describe_seeds(model.iter_slots())
    assert described == model.describe_seeds()
    records = parse_description(json.loads(json.dumps(described)), model.slots, model.registry)
    block0 = model.slot("block0")
    assert records["block0"] == SlotRecord(
        SeedStage.BLENDING, "conv_light", 1, block0.alpha, {"kernel": 5}
    )
    assert records["block1"] == SlotRecord(SeedStage.GERMINATED, "conv_heavy", 0, 0.0, {})
    dormant = parse_entry("block0", {"stage": "DORMANT", "blueprint": None})
    assert dormant == SlotRecord(SeedStage.DORMANT, None, 0, 0.0, {})
    assert list(records) == list(model.slots)


def test_restored_model_describes_itself_as_the_original():
    model = _grown()
    fresh = make_model("cnn1d", lifecycle=model.lifecycle)
    fresh.restore_seeds(json.loads(json.dumps(model.describe_seeds())))
    assert describe_seeds(fresh.iter_slots()) == describe_seeds(model.iter_slots())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"blueprint": None}, "needs at least a 'stage'"),
        ({"stage": "TRAINING", "blueprint": None}, "needs a blueprint"),
        ({"stage": "DORMANT", "blueprint": "conv_light"}, "has no blueprint"),
        ({"stage": "HOLDING", "blueprint": "conv_light", "alpha": 2}, "alpha must be"),
        ({"stage": "DORMANT", "blueprint": None, "ticks_in_stage": -1}, "ticks_in_stage"),
        ({"stage": "HOLDING", "blueprint": "x", "alpha": 1, "seed_kwargs": [1]}, "seed_kwargs"),
    ],
)
def test_malformed_entries_raise_naming_the_slot(entry, message):
    with pytest.raises(KasminaError, match=message) as caught:
        parse_entry("block0", entry)
    assert "block0" in str(caught.value)


def test_parse_description_checks_slots_and_blueprints():
    model = make_model("cnn1d")
    described = describe_seeds(model.iter_slots())
    with pytest.raises(KasminaError, match="no entry for slot"):
        parse_description({"block0": described["block0"]}, model.slots, BlueprintRegistry)
    typo = {**described, "block0": {"stage": "PRUNED", "blueprint": "conv_lite"}}
    with pytest.raises(KasminaError, match="conv_lite"):
        parse_description(typo, model.slots, BlueprintRegistry)
