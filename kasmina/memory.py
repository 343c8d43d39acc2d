"""Activation checkpointing switched on by CUDA memory pressure, and out-of-memory recovery.

The :class:`MemoryGovernor` reads memory pressure (used / total device memory, in [0, 1])
through a *probe* before every training step. It uses two water marks so that it does not
flap: checkpointing goes **on** for every checkpoint-capable seed once pressure reaches
``high_water`` and **off** again only when pressure falls below ``low_water``. It switches only
between optimizer steps (:meth:`MemoryGovernor.poll` refuses to run inside a step), because
changing what a checkpointed region computes between its forward and its backward would make
the recomputation silently wrong.

A step that raises ``torch.OutOfMemoryError`` is retried once with checkpointing on
everywhere and the allocator cache emptied; after such a recovery checkpointing stays on for
``oom_hold_steps`` steps whatever the probe says. A second failure raises
:class:`~kasmina.errors.GrowthOOMError`.

Everything is testable without a GPU: pass ``probe=`` and raise ``torch.OutOfMemoryError``
from the step function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import torch

from kasmina.errors import GrowthOOMError, InvalidValueError, KasminaError

T = TypeVar("T")

PressureProbe = Callable[[torch.device], "float | None"]
"""Returns memory pressure in [0, 1] for a device, or ``None`` when it cannot be measured."""


def device_memory_pressure(device: torch.device) -> float | None:
    """The default probe: used / total memory of a CUDA device; ``0.0`` on CPU.

    ``torch.cuda.mem_get_info`` is device-wide, so memory held by other processes counts: that
    is deliberate, since it is the memory this process can no longer get. CPU training has no
    device memory limit that checkpointing could relieve, so it never reports pressure.
    """
    if device.type != "cuda":
        return 0.0
    free, total = torch.cuda.mem_get_info(device)
    return (total - free) / total if total else None


class SwitchReason(str, Enum):
    """Why the governor switched checkpointing."""

    HIGH_PRESSURE = "high_pressure"
    LOW_PRESSURE = "low_pressure"
    OOM_RETRY = "oom_retry"


@dataclass(frozen=True)
class CheckpointEvent:
    """One switch of activation checkpointing.

    Attributes:
        step: The optimizer step before which (or, for an OOM retry, during which) it happened.
        pressure: The pressure read at that moment, ``None`` if the probe could not measure it.
        enabled: The new state.
        reason: Why.
    """

    step: int
    pressure: float | None
    enabled: bool
    reason: SwitchReason


def _empty_device_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


class MemoryGovernor:
    """Turns activation checkpointing on and off from measured memory pressure.

    Args:
        probe: Pressure probe; defaults to :func:`device_memory_pressure`.
        high_water: Pressure at or above which checkpointing is switched on.
        low_water: Pressure below which it is switched off again.
        oom_hold_steps: Steps for which checkpointing stays on after an out-of-memory retry.
        empty_cache: Called with the device before an OOM retry (default: CUDA cache release).
    """

    def __init__(
        self,
        probe: PressureProbe | None = None,
        *,
        high_water: float = 0.85,
        low_water: float = 0.70,
        oom_hold_steps: int = 100,
        empty_cache: Callable[[torch.device], None] = _empty_device_cache,
    ) -> None:
        if not 0.0 <= low_water < high_water <= 1.0:
            raise InvalidValueError(
                "MemoryGovernor needs 0 <= low_water < high_water <= 1, got "
                f"low_water={low_water}, high_water={high_water}"
            )
        if oom_hold_steps < 0:
            raise InvalidValueError(f"oom_hold_steps must be >= 0, got {oom_hold_steps}")
        self.probe = probe or device_memory_pressure
        self.high_water, self.low_water = high_water, low_water
        self.oom_hold_steps = oom_hold_steps
        self._empty_cache = empty_cache
        self._enabled = False
        self._hold_until = -1
        self._in_step = False
        self._events: list[CheckpointEvent] = []
        self.last_pressure: float | None = None

    @property
    def checkpointing(self) -> bool:
        """Whether checkpointing is currently switched on for capable seeds."""
        return self._enabled

    @property
    def events(self) -> tuple[CheckpointEvent, ...]:
        """Every switch so far, oldest first."""
        return tuple(self._events)

    def _read(self, device: torch.device) -> float | None:
        value = self.probe(device)
        if value is None or not math.isfinite(value):
            return None
        return float(value)

    def _switch(
        self, step: int, pressure: float | None, enabled: bool, reason: SwitchReason
    ) -> CheckpointEvent:
        self._enabled = enabled
        event = CheckpointEvent(step, pressure, enabled, reason)
        self._events.append(event)
        return event

    def poll(self, step: int, device: torch.device | str = "cpu") -> CheckpointEvent | None:
        """Read pressure before optimizer step ``step`` and switch if a water mark is crossed.

        Returns the switch event, or ``None`` if nothing changed (an unmeasurable pressure
        changes nothing).
        """
        if self._in_step:
            raise KasminaError(
                "MemoryGovernor.poll() inside a training step: checkpointing may "
                "only change between optimizer steps"
            )
        pressure = self.last_pressure = self._read(torch.device(device))
        if pressure is None:
            return None
        if not self._enabled and pressure >= self.high_water:
            return self._switch(step, pressure, True, SwitchReason.HIGH_PRESSURE)
        if self._enabled and pressure < self.low_water and step >= self._hold_until:
            return self._switch(step, pressure, False, SwitchReason.LOW_PRESSURE)
        return None

    def run_step(
        self,
        step: int,
        attempt: Callable[[], T],
        recover: Callable[[], None],
        device: torch.device | str = "cpu",
    ) -> tuple[T, bool]:
        """Run ``attempt`` (forward + backward); on out-of-memory, recover and retry once.

        Args:
            step: The optimizer step being taken (for events and errors).
            attempt: The step's forward and backward; no optimizer may step inside it.
            recover: Clears partial gradients and applies :attr:`checkpointing` to every seed;
                called before the retry and after a second failure.
            device: Where the step runs (whose cache is emptied).

        Returns:
            ``attempt``'s result and whether a retry was needed.

        Raises:
            GrowthOOMError: if the retry runs out of memory too.
        """
        device = torch.device(device)
        self._in_step = True
        try:
            try:
                return attempt(), False
            except torch.OutOfMemoryError as exc:
                first = str(exc).splitlines()[0] if str(exc) else "out of memory"
            # Retried outside the except block so the failed step's frames (and the
            # activations they reference) are released first.
            self._hold_until = step + self.oom_hold_steps
            if not self._enabled:
                self._switch(step, self._read(device), True, SwitchReason.OOM_RETRY)
            recover()
            self._empty_cache(device)
            try:
                return attempt(), True
            except torch.OutOfMemoryError as exc:
                second = str(exc).splitlines()[0] if str(exc) else first
            recover()
            self._empty_cache(device)
            raise GrowthOOMError(step, second)
        finally:
            self._in_step = False
