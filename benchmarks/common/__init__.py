"""What several benchmarks share, one owner each.

============ =====================================================================================
module       its one job
============ =====================================================================================
``procs``    start a subprocess (``python -m simic ...``, ``git``): its environment, its own
             session, its output in files, signals to it or its group; the process table
``jobs``     run many such commands in parallel: ordered, with dependencies and cores, resumable,
             stopped together by Ctrl-C or SIGTERM (what finished is kept)
``runs``     read back what simic's commands leave: strict JSON, a checkpoint's timesteps, a held
             run-folder lock; the smallest sweep that runs every part of ``simic sweep``
============ =====================================================================================
"""
