"""The seed description: a JSON-serialisable record of every slot's lifecycle state.

:meth:`MorphogeneticModel.describe_seeds` writes it and :meth:`~MorphogeneticModel.restore_seeds`
reads it back; this module owns the format, both ways: :func:`describe_seeds` turns slots into
entries, :func:`parse_description` checks a description entry by entry and returns typed
:class:`SlotRecord` values. Rebuilding the slots from the records (seed modules, optimizers)
stays with the model, which owns both.

An entry has ``stage`` (a :class:`SeedStage` name), ``blueprint`` (``None`` when DORMANT;
PRUNED and EMBARGOED slots keep the name) and ``ticks_in_stage``; slots that hold a seed
(GERMINATED, TRAINING, BLENDING, HOLDING, FOSSILIZED) add ``alpha`` and ``seed_kwargs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kasmina.blueprints.registry import Registry
from kasmina.errors import InvalidValueError, UnknownChoiceError
from kasmina.lifecycle import SeedStage
from kasmina.slot import SeedSlot

Description = Mapping[str, Mapping[str, object]]
"""A seed description as read: slot id -> entry (what ``json.loads`` gives back)."""

_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SlotRecord:
    """One parsed, validated entry of a seed description.

    Attributes:
        stage: The slot's stage.
        blueprint: The blueprint's name (``None`` for DORMANT).
        ticks_in_stage: Lifecycle ticks spent in ``stage``.
        alpha: The blend weight (0 for a slot without a seed).
        seed_kwargs: The keywords the seed was germinated with.
    """

    stage: SeedStage
    blueprint: str | None
    ticks_in_stage: int
    alpha: float
    seed_kwargs: dict[str, object]


def describe_seeds(slots: Iterable[SeedSlot]) -> dict[str, dict[str, object]]:
    """The description of ``slots``, by slot id (see the module docstring for an entry).

    Raises:
        KasminaError: if a seed keyword is not a JSON scalar (str, int, float, bool, None).
    """
    return {slot.slot_id: describe_slot(slot) for slot in slots}


def describe_slot(slot: SeedSlot) -> dict[str, object]:
    """One slot's entry; a seed keyword that JSON cannot hold raises, naming it."""
    entry: dict[str, object] = {
        "stage": slot.stage.name,
        "blueprint": slot.blueprint,
        "ticks_in_stage": slot.ticks_in_stage,
    }
    if slot.stage.has_seed:
        for key, value in slot.seed_kwargs.items():
            if not isinstance(value, _JSON_SCALARS):
                raise InvalidValueError(
                    f"slot {slot.slot_id!r}: seed keyword {key}={value!r} is a "
                    f"{type(value).__name__}, not a JSON scalar (str, int, float, bool, None), "
                    "so the seed cannot be described"
                )
        entry["alpha"] = slot.alpha
        entry["seed_kwargs"] = dict(slot.seed_kwargs)
    return entry


def parse_description(
    description: Description, slots: Mapping[str, SeedSlot], registry: Registry
) -> dict[str, SlotRecord]:
    """Every entry of ``description`` as a :class:`SlotRecord`, in the order of ``slots``.

    ``description`` must have one entry per slot of ``slots`` and no other; a blueprint name
    must exist in ``registry`` for its slot's topology (PRUNED and EMBARGOED names too: a typo
    is caught here, not at the next germination).

    Raises:
        KasminaError: a slot is missing or an entry is malformed.
        UnknownChoiceError: an unknown slot id, stage name or blueprint.
    """
    if not isinstance(description, Mapping):
        raise InvalidValueError(
            f"a seed description must be a mapping of slot id to entry, got {description!r}"
        )
    for slot_id in description:
        if slot_id not in slots:
            raise UnknownChoiceError("slot", slot_id, slots, context="in this model")
    missing = [s for s in slots if s not in description]
    if missing:
        raise InvalidValueError(f"the seed description has no entry for slot(s) {missing}")
    records = {s: parse_entry(s, description[s]) for s in slots}
    for slot_id, record in records.items():
        if record.blueprint is not None:
            registry.spec(slots[slot_id].topology, record.blueprint)
    return records


def parse_entry(slot_id: str, entry: object) -> SlotRecord:
    """A description entry as a :class:`SlotRecord`; anything malformed raises, naming it."""
    if not isinstance(entry, Mapping) or "stage" not in entry:
        raise InvalidValueError(
            f"slot {slot_id!r}: an entry needs at least a 'stage', got {entry!r}"
        )
    name = entry["stage"]
    if not isinstance(name, str) or name not in SeedStage.__members__:
        raise UnknownChoiceError("stage", name, SeedStage.__members__, context=f"for {slot_id!r}")
    stage = SeedStage[name]
    blueprint = entry.get("blueprint")
    if not (blueprint is None or isinstance(blueprint, str)):
        raise InvalidValueError(f"slot {slot_id!r}: blueprint must be a name, got {blueprint!r}")
    if (blueprint is None) != (stage is SeedStage.DORMANT):
        raise InvalidValueError(
            f"slot {slot_id!r}: a {stage} slot "
            f"{'needs a' if blueprint is None else 'has no'} blueprint, got {blueprint!r}"
        )
    ticks = entry.get("ticks_in_stage", 0)
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 0:
        raise InvalidValueError(
            f"slot {slot_id!r}: ticks_in_stage must be an int >= 0, got {ticks!r}"
        )
    if not stage.has_seed:
        return SlotRecord(stage, blueprint, ticks, 0.0, {})
    return SlotRecord(
        stage, blueprint, ticks, _parse_alpha(slot_id, entry), _parse_kwargs(slot_id, entry)
    )


def _parse_alpha(slot_id: str, entry: Mapping[str, object]) -> float:
    alpha = entry.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise InvalidValueError(
            f"slot {slot_id!r}: alpha must be a number in [0, 1], got {alpha!r}"
        )
    return float(alpha)


def _parse_kwargs(slot_id: str, entry: Mapping[str, object]) -> dict[str, object]:
    kwargs = entry.get("seed_kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise InvalidValueError(
            f"slot {slot_id!r}: seed_kwargs must map keyword names to values, got {kwargs!r}"
        )
    return dict(kwargs)
