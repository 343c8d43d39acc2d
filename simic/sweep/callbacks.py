"""The Ray Tune callbacks of ``simic sweep`` (this module imports Ray: only
:mod:`simic.sweep.tune` imports it, once Ray is known to be installed).

Tune pickles its callbacks into the experiment state and restores them on ``--resume``, so they
live at module level, where pickle finds them by name.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from simic.sweep.trials import from_metrics, trial_folder


class TrialProgress(tune.Callback):
    """One console line as each trial ends (Tune's own progress output is off)."""

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        returns = from_metrics(trial.last_result or {}, "return")
        shown = f"return {returns.format(1, 3)}" if returns else "no result"
        print(f"  {trial_folder(trial)} done: {shown}", flush=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        print(f"  {trial_folder(trial)} failed (its error: {trial.path}/error.txt)", flush=True)
