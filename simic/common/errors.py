"""simic's user error: a bad option, config file, run folder or results file.

It is a :class:`~kasmina.errors.UserError`, so the command line reports it as one line with exit
status 2; anything that is not a ``UserError`` is a bug and keeps its traceback.
"""

from __future__ import annotations

from kasmina.errors import UserError


class SimicError(UserError, ValueError):
    """A user error in simic's training or evaluation (reported as one line by the CLI)."""
