"""The tasks behind the registered environment ids: a dataset, a host, a blueprint set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from kasmina import CNNHost, HostNetwork, Topology, TransformerHost
from kasmina.errors import UnknownChoiceError

CNN_BLUEPRINTS = ("attention", "depthwise", "conv_light", "conv_heavy")
TRANSFORMER_BLUEPRINTS = ("lora", "attention", "mlp_small", "mlp")


@dataclass(frozen=True)
class TaskSpec:
    """A growth task.

    Attributes:
        name: The ``task=`` value of :class:`~envs.GrowthEnv`.
        dataset: Which embedded data set it trains on (see :mod:`envs.data`).
        description: One line for listings.
        host_factory: Builds the (untrained) host; called under a seeded init. A picklable
            callable (a module-level function or a ``functools.partial``, not a lambda), so that
            an environment can be pickled.
        blueprints: The default blueprint set of the action space.
        as_sequence: Feed (N, 1, L) inputs as (N, L, 1) token sequences (transformer hosts).
        defaults: Task-specific defaults for :class:`~envs.GrowthEnvConfig` fields.
    """

    name: str
    dataset: str
    description: str
    host_factory: Callable[[], HostNetwork]
    blueprints: tuple[str, ...]
    as_sequence: bool = False
    defaults: dict[str, object] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        return Topology.TRANSFORMER if self.as_sequence else Topology.CNN


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "mnist1d",
            "mnist1d",
            "a deliberately small 1-D CNN on MNIST-1D",
            partial(CNNHost, 1, 10, (8, 16), spatial_dims=1),
            CNN_BLUEPRINTS,
        ),
        TaskSpec(
            "mnist1d-transformer",
            "mnist1d",
            "a small transformer on MNIST-1D read as a 40-token sequence",
            partial(TransformerHost, 1, 10, 40, dim=16, layers=2, heads=2),
            TRANSFORMER_BLUEPRINTS,
            as_sequence=True,
        ),
        TaskSpec(
            "digits",
            "digits",
            "a small 2-D CNN on scikit-learn's 8x8 digits",
            partial(CNNHost, 1, 10, (8, 16), spatial_dims=2),
            CNN_BLUEPRINTS,
        ),
        TaskSpec(
            "cifar10",
            "cifar10",
            "a small 2-D CNN on CIFAR-10 (local data_dir needed)",
            partial(CNNHost, 3, 10, (16, 32, 64), spatial_dims=2),
            CNN_BLUEPRINTS,
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name``; an unknown name raises with the closest valid one."""
    if not isinstance(name, str) or name not in TASKS:  # a list would be unhashable
        raise UnknownChoiceError("task", name, TASKS)
    return TASKS[name]
