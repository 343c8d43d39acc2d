"""envs: Gymnasium environments in which growing a network is the game.

The environments (``simic/Grow-*-v0``) arrive with the environment issue; this package exists now
so that the project's layout is fixed. envs builds on kasmina and knows nothing of simic.

Note: this top-level ``envs`` package cannot be installed beside the unrelated PyPI package that
is also called ``envs``.
"""

__all__: list[str] = []
