"""Batched growth environments: N episodes of one task (or family) stepped in one call.

* :mod:`~envs.batched.grouped_host` — N same-shape CNN hosts as one ``groups=N`` network;
* :mod:`~envs.batched.seed_groups` — the envs' seeds of one (slot, blueprint) as one module;
* :mod:`~envs.batched.optim` — many envs' optimizers stepped in one foreach call;
* :mod:`~envs.batched.work` — a group's training batches, validation and counterfactuals;
* :mod:`~envs.batched.vector_env` — :class:`BatchedGrowthEnv`, the Gymnasium ``VectorEnv``.
"""

from envs.batched.vector_env import BatchedGrowthEnv

__all__ = ["BatchedGrowthEnv"]
