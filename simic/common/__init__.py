"""What every part of simic shares: the first layer, importing only kasmina, envs and itself.

======================== ======================================================================
module                   its one job
======================== ======================================================================
``common.errors``        :class:`SimicError` and the one-line errors a user causes
``common.signals``       Ctrl-C and SIGTERM: raised at safe points, exit statuses 130 / 143
``common.seeding``       the seed ranges (training vs evaluation) and the wrappers that draw them
``common.stats``         means with confidence intervals, paired differences
``common.provenance``    what a model was trained on, checked before it plays or resumes
``common.runfolder``     a folder owned by one process (``flock``), and the run folder's files
``common.raysupport``    Ray addresses and sessions (local by default)
``common.envutil``       env ids and keyword arguments -> a made, checked env
``common.options``       dataclass fields -> argparse options (one help line per field)
``common.printing``      :data:`Printer`, where progress lines go
======================== ======================================================================

The layers of simic, each importing only those above it in this list: ``common``,
``policies``, ``training``, ``evaluation``, ``sweep``, ``cli`` (``tests/test_layering.py``).
"""
