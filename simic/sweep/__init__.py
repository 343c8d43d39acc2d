"""``simic sweep``: Ray Tune searches over training runs, each trial evaluated on held-out seeds.

==================== ==========================================================================
module               its one job
==================== ==========================================================================
``sweep.config``     :class:`SweepConfig`: the search space file, checked, -> trial configs
``sweep.trials``     a trial's folder name and its Tune metrics
``sweep.tune``       :func:`run_sweep`: the Tune experiment, trials, baselines, resume
``sweep.callbacks``  the Tune callbacks (imports Ray; loaded only once Ray is known present)
``sweep.results``    the sweep's table and files (``sweep.json``, ``sweep.csv``, ``sweep.png``)
==================== ==========================================================================

May import ``simic.common``, ``simic.policies``, ``simic.training`` and ``simic.evaluation``.
Nothing here imports Ray at import time: ``[ray]`` is an extra.
"""

from __future__ import annotations

from simic.sweep.config import SweepConfig
from simic.sweep.tune import SweepReport, run_sweep

__all__ = ["SweepConfig", "SweepReport", "run_sweep"]
