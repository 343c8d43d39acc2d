"""Validating configuration values: one wording for every layer's "must be ..." errors, and
one check for keyword names that a config does not have (GrowthEnv, the heuristic, train
configs all reject them through :func:`reject_unknown`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from kasmina.errors import InvalidValueError, UnexpectedKeywordError, UnknownChoiceError, UserError

DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "mps")
"""What an unknown device name is compared with to suggest the closest."""


def is_int(value: object) -> bool:
    """A real int (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)  # type: ignore[arg-type]


def require_int(
    name: str, value: object, minimum: int, error: type[UserError] = InvalidValueError
) -> int:
    """``value`` if it is an int >= ``minimum``, else ``error("<name> must be ...")``."""
    if not is_int(value) or value < minimum:  # type: ignore[operator]
        raise error(f"{name} must be an int >= {minimum}, got {value!r}")
    return value  # type: ignore[return-value]


def require_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    error: type[UserError] = InvalidValueError,
) -> float:
    """``value`` if it is a finite number in the range, else ``error`` naming the range.

    ``low_open`` makes the lower bound exclusive (``> low`` rather than ``>= low``).
    """
    # The type first: comparing a str or None with the bounds would raise a bare TypeError.
    number = is_number(value)
    below = number and low is not None and (value <= low if low_open else value < low)  # type: ignore[operator]
    above = number and high is not None and value > high  # type: ignore[operator]
    if not number or below or above:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"<= {high:g}")
        bound = f" {' and '.join(parts)}" if parts else ""
        raise error(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def reject_unknown(
    owner: str, given: Iterable[object], accepted: Iterable[str], *, hints: Iterable[str] = ()
) -> None:
    """Raise :class:`UnexpectedKeywordError` if ``given`` holds a name not in ``accepted``.

    Args:
        owner: Who takes the keywords, for the message (``"GrowthEnv"``, ``"ppo config"``).
        given: The names passed (a mapping's keys, a set of keywords).
        accepted: The names ``owner`` takes.
        hints: Names offered as suggestions and listed as valid, without being accepted here
            (e.g. ``"ppo.n_steps"``, which belongs in a nested section).
    """
    names = list(accepted)
    unknown = {str(k) for k in given} - set(names)
    if unknown:
        raise UnexpectedKeywordError(owner, unknown, [*names, *hints])


def require_device(
    name: str,
    value: object,
    *,
    allow_auto: bool = False,
    error: type[UserError] = InvalidValueError,
) -> str:
    """``value`` if torch can place tensors on that device here, else a one-line error.

    The one device check of every layer. An unknown name raises :class:`UnknownChoiceError`
    (with the closest of :data:`DEVICE_CHOICES`); a device this machine lacks (no CUDA, no MPS,
    a CUDA index past the last GPU) raises ``error`` naming it. ``allow_auto`` admits
    ``"auto"`` (stable-baselines3's pick of the best device there is).
    """
    if allow_auto and value == "auto":
        return "auto"
    try:
        device = torch.device(value)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, ValueError):
        choices = ("auto", *DEVICE_CHOICES) if allow_auto else DEVICE_CHOICES
        raise UnknownChoiceError("device", value, choices) from None
    missing = _missing(device)
    if missing:
        use = "'cpu' or 'auto'" if allow_auto else "'cpu'"
        raise error(f"{name} {value!r}: {missing}; use {use}")
    return str(value)


def _missing(device: torch.device) -> str | None:
    """Why ``device`` cannot be used on this machine, or ``None`` if it can."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "CUDA is not available here"
        if (device.index or 0) >= torch.cuda.device_count():
            return f"torch sees only {torch.cuda.device_count()} CUDA device(s)"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "MPS is not available here"
    return None
