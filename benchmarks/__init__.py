"""Long experiments and robustness checks of simic, each run as ``python -m benchmarks.<name>``.

Shared code lives in :mod:`benchmarks.common`: ``procs`` starts every subprocess (a ``simic``
command, ``git``), ``jobs`` schedules the learning proof's parallel, resumable jobs, ``runs``
reads back what simic's commands leave behind. Results go to ``benchmarks/results/``, written
atomically through :mod:`envs.atomic`.
"""
