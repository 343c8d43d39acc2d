"""The ``simic`` command line: a thin ``main(argv=None)`` over each job's dataclass config.

==================== ==========================================================================
module               its one job
==================== ==========================================================================
``cli.commands``     the parser, the dispatch, one-line errors with exit status 2
``cli.runs``         ``simic train`` and ``simic evaluate`` (options from their configs)
``cli.sweep``        ``simic sweep``
``cli.quickstart``   ``simic quickstart``: the main job on the embedded default task
``cli.demo``         ``simic demo``: a short tour of kasmina
==================== ==========================================================================

The top layer: may import every other part of simic.
"""

from __future__ import annotations

from simic.cli.commands import main

__all__ = ["main"]
