"""simic: the controller layer that decides when and how a network grows.

It trains the MaskablePPO controller (:mod:`simic.train`), plays it and the baseline policies on
held-out episodes (:mod:`simic.evaluate`), and holds the ``simic`` command line (:mod:`simic.cli`),
whose main job is ``simic quickstart``; ``simic demo`` (:mod:`simic.demo`) is a short tour of
kasmina on its own.

simic builds on kasmina (the growing network) and ``envs``; neither knows about simic.
"""

__all__: list[str] = []
