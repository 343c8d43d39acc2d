"""simic: the controller layer that decides when and how a network grows.

For now it holds the main-job demo (:func:`simic.demo.run_demo`), which grows a small CNN with
hand-written rules, and the ``simic`` command line (:mod:`simic.cli`). The reinforcement-learning
(PPO) controller that learns those decisions comes later.

simic builds on kasmina (the growing network) and ``envs``; neither knows about simic.
"""

__all__: list[str] = []
