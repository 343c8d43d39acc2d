"""Typed errors shared by every layer of simic.

Two families, one line between them:

* :class:`UserError` — the input was wrong (a bad value, an unknown name, an unexpected keyword,
  an unreadable data or config file). The person running the code fixes it by changing what they
  passed; the command line prints it as one line and exits with status 2.
* Every other :class:`KasminaError` (:class:`IllegalTransitionError`, :class:`GrowthOOMError`,
  an API called out of order) — the code or the machine went wrong. The command line lets it
  raise, so that its traceback points at the bug.

Every user error says what the value was, what the valid choices are and, where one is close,
which one was probably meant (difflib). Callers catch the typed classes; they also derive from
the built-in error a Python user would expect (``ValueError`` for bad values, ``TypeError`` for
bad keywords).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KasminaError(Exception):
    """Base class of every error raised on purpose by kasmina, envs and simic."""


class UserError(KasminaError):
    """Base class of the errors that bad input causes (reported as one line, never a bug)."""


class InvalidValueError(UserError, ValueError):
    """A value outside what a setting allows (a width of 0, a negative learning rate, ...)."""


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``value`` by difflib's ratio, or ``None`` if nothing is close."""
    matches = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return matches[0] if matches else None


class UnknownChoiceError(UserError, ValueError):
    """A value that is not one of a known set of names (a blueprint, a topology, a slot, ...)."""

    def __init__(self, kind: str, value: object, choices: Iterable[str], context: str = "") -> None:
        self.kind = kind
        self.value = value
        self.choices = tuple(sorted(str(c) for c in choices))
        self.suggestion = closest(str(value), self.choices)
        where = f" {context}" if context else ""
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else "."
        valid = ", ".join(repr(c) for c in self.choices) or "(none)"
        super().__init__(f"unknown {kind} {value!r}{where}{hint} Valid choices: {valid}.")


class UnexpectedKeywordError(UserError, TypeError):
    """A keyword argument that a factory (blueprint, environment, ...) does not accept."""

    def __init__(
        self,
        owner: str,
        keywords: Iterable[str] | None = None,
        accepted: Iterable[str] | None = None,
    ) -> None:
        if keywords is None:
            # Re-raised with a finished message (gymnasium.make rebuilds TypeErrors as
            # ``type(e)(message)``): keep the message, know nothing more.
            self.owner, self.keywords, self.accepted = "", (), ()
            super().__init__(owner)
            return
        self.owner = owner
        self.keywords = tuple(sorted(keywords))
        self.accepted = tuple(sorted(accepted or ()))
        hints = [
            f"{k!r} (did you mean {s!r}?)" if (s := closest(k, self.accepted)) else repr(k)
            for k in self.keywords
        ]
        valid = ", ".join(repr(a) for a in self.accepted) or "(none)"
        super().__init__(
            f"{owner} got unexpected keyword argument(s) {', '.join(hints)}. It accepts: {valid}."
        )


class IllegalTransitionError(KasminaError, RuntimeError):
    """A seed lifecycle transition that the transition table does not allow.

    Not a :class:`UserError`: callers (the environment's action mask, a policy) must only ask for
    allowed transitions, so reaching this is a bug to see with its traceback.
    """

    def __init__(
        self, slot_id: str, current: object, requested: object, allowed: Iterable[object]
    ) -> None:
        self.slot_id = slot_id
        self.current = current
        self.requested = requested
        self.allowed = tuple(allowed)
        names = ", ".join(str(a) for a in self.allowed) or "none (terminal stage)"
        super().__init__(
            f"slot {slot_id!r}: illegal transition {current} -> {requested}; "
            f"from {current} the allowed next stages are: {names}."
        )


class GrowthOOMError(KasminaError, RuntimeError):
    """A training step ran out of memory again after the governor's recovery retry.

    The step's gradients have been cleared and no optimizer has stepped, so the model is in a
    consistent state: a caller (the environment) can prune a seed and carry on.
    """

    def __init__(self, step: int, message: str) -> None:
        self.step = step
        super().__init__(
            f"out of memory at step {step} even with activation checkpointing on everywhere "
            f"and the allocator cache emptied: {message}"
        )
