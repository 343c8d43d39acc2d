"""simic: the controller layer that decides when and how a network grows.

It trains a MaskablePPO growth controller on the ``envs`` environments, compares it with the
baseline policies (random, nogrow, growall and a hand-written heuristic) on held-out episodes,
exports grown networks, searches over training runs with Ray Tune (with the ``[ray]`` extra),
and runs all of it from the ``simic`` command line, including a short tour of kasmina
(``simic demo``).

Its subpackages are layers; each imports only those before it (``tests/test_layering.py``):

=================== ===========================================================================
subpackage          its one job
=================== ===========================================================================
``common``          what every layer shares: errors, signals, seeds, statistics, provenance,
                    run folders and their file names, Ray support, env helpers, options
``pretrained``      the trained controllers shipped as package data, played by name
``policies``        a name or a model file -> a policy that plays an env; one episode loop
``training``        a training config -> a run folder (the sb3 and rllib engines)
``evaluation``      policies x seeds -> a report, its files and figures, exported networks
``sweep``           Ray Tune searches over training runs, each evaluated on held-out seeds
``cli``             the ``simic`` command line over all of the above
=================== ===========================================================================

simic builds on kasmina (the growing network) and ``envs``; neither knows about simic.
"""

__all__: list[str] = []
