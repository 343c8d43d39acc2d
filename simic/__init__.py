"""simic: the controller layer that decides when and how a network grows.

It trains a MaskablePPO growth controller on the ``envs`` environments (:mod:`simic.training.sb3`),
compares it with the baseline policies (random, nogrow, growall and a hand-written heuristic)
on held-out episodes (:mod:`simic.policies`, :mod:`simic.evaluation`), exports grown
networks (:mod:`simic.evaluation.export`), searches over training runs with Ray Tune
(:mod:`simic.sweep`, with the ``[ray]`` extra), and runs all of it from the ``simic`` command
line (:mod:`simic.cli`),
including a short tour of kasmina (``simic demo``).

simic builds on kasmina (the growing network) and ``envs``; neither knows about simic.
"""

__all__: list[str] = []
