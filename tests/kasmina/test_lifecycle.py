import itertools

import pytest

from kasmina import TRANSITIONS, AlphaSchedule, KasminaError, LifecycleConfig, SeedStage
from kasmina.blueprints import Topology
from kasmina.errors import IllegalTransitionError, UnknownChoiceError
from kasmina.lifecycle import LIVE_STAGES
from kasmina.slot import SeedSlot

EXPECTED = {
    (SeedStage.DORMANT, SeedStage.GERMINATED),
    (SeedStage.GERMINATED, SeedStage.TRAINING),
    (SeedStage.TRAINING, SeedStage.BLENDING),
    (SeedStage.BLENDING, SeedStage.HOLDING),
    (SeedStage.HOLDING, SeedStage.FOSSILIZED),
    (SeedStage.TRAINING, SeedStage.PRUNED),
    (SeedStage.BLENDING, SeedStage.PRUNED),
    (SeedStage.HOLDING, SeedStage.PRUNED),
    (SeedStage.PRUNED, SeedStage.EMBARGOED),
    (SeedStage.EMBARGOED, SeedStage.DORMANT),
}


def test_transition_table_is_exactly_the_documented_one():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == EXPECTED
    assert set(TRANSITIONS) == set(SeedStage)


@pytest.mark.parametrize("start,target", list(itertools.product(SeedStage, SeedStage)))
def test_every_pair_is_allowed_or_raises(start, target):
    slot = SeedSlot("s", 8, Topology.CNN, LifecycleConfig())
    slot.stage = start
    if (start, target) in EXPECTED:
        change = slot.transition(target)
        assert (change.old, change.new, slot.stage) == (start, target, target)
    else:
        with pytest.raises(IllegalTransitionError) as info:
            slot.transition(target)
        assert info.value.current is start and info.value.requested is target
        assert slot.stage is start


def test_stage_properties():
    assert set(LIVE_STAGES) == {s for s in SeedStage if s.is_live}
    assert not SeedStage.FOSSILIZED.is_live and SeedStage.FOSSILIZED.has_seed
    assert not SeedStage.PRUNED.has_seed


@pytest.mark.parametrize("field", ["training_ticks", "blending_ticks", "embargo_ticks"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_lifecycle_config_validates(field, value):
    with pytest.raises(KasminaError, match=field):
        LifecycleConfig(**{field: value})


def test_schedule_from_string_and_unknown_schedule():
    assert LifecycleConfig(schedule="cosine").schedule is AlphaSchedule.COSINE
    with pytest.raises(UnknownChoiceError, match="did you mean 'cosine'"):
        LifecycleConfig(schedule="cosin")


def test_alpha_schedules_run_from_zero_to_one():
    for schedule in AlphaSchedule:
        values = [schedule(p / 10) for p in range(11)]
        assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
        assert values == sorted(values)
