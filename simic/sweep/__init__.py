"""``simic sweep``: Ray Tune searches over training runs, each trial evaluated on held-out seeds.

==================== ==========================================================================
module               its one job
==================== ==========================================================================
``sweep.space``      the search space: what ``search:`` may name, each dimension checked
``sweep.config``     :class:`SweepConfig`: the sweep's file, checked, -> trial configs
``sweep.trials``     one trial: folder, log, training and evaluation, Tune metrics
``sweep.baselines``  the baselines, evaluated once per env setting of the trials
``sweep.tune``       :func:`run_sweep`: the Tune experiment, its storage, resume
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
