"""Where a long job's progress lines go: ``print`` by default, a list in tests."""

from __future__ import annotations

from collections.abc import Callable

Printer = Callable[[str], None]
"""Takes one line of progress (no trailing newline); ``print`` is one."""
