"""What ``simic evaluate`` runs: :class:`EvaluateConfig`, checked when it is made.

Episodes use seeds ``seed .. seed + episodes - 1``, below :data:`~simic.common.seeding.
EVALUATION_SEED_LIMIT` (training draws its episode seeds above it), so the two never meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import envs
from kasmina.validation import require_device, require_int
from simic.common.envutil import bare_env_id, resolve_env_id
from simic.common.errors import SimicError
from simic.common.options import doc
from simic.common.raysupport import DEFAULT, check_address, require_ray
from simic.common.seeding import EVALUATION_SEED_LIMIT
from simic.policies import FAMILY_POLICY_NAMES, POLICY_NAMES, list_policies
from simic.pretrained import PREFIX


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``simic evaluate`` runs (each field's help is its ``--help`` line)."""

    env: str = field(default="simic/Grow-MNIST1D-v0", metadata=doc("environment id"))
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata=doc("environment keyword arguments, e.g. budget=20")
    )
    policies: tuple[str, ...] = field(
        default=POLICY_NAMES,
        metadata=doc(
            f"{', '.join(list_policies())}, {PREFIX}NAME (a model shipped with simic), a run "
            f"folder of 'simic train' (either --engine) or a model .zip, repeatable (default: "
            f"{', '.join(POLICY_NAMES)}; "
            f"{', '.join(FAMILY_POLICY_NAMES)} play task families only)",
            flag="--policy",
            metavar="POLICY",
        ),
    )
    episodes: int = field(default=10, metadata=doc("episodes per policy"))
    seed: int = field(
        default=1000, metadata=doc("first episode seed; episodes use SEED..SEED+EPISODES-1")
    )
    n_envs: int = field(
        default=1,
        metadata=doc("worker processes, parallel above 1 (with --batched: episodes per batch)"),
    )
    batched: bool = field(
        default=False,
        metadata=doc(
            "play each policy's episodes n_envs at a time in one batched env "
            "(envs.BatchedGrowthEnv: CNN tasks and families; numbers within float rounding "
            "of the single env's)"
        ),
    )
    ray: str | None = field(
        default=None,
        metadata=doc(
            "play the episodes as Ray tasks: alone, on a local Ray with this machine's cores "
            "(or the cluster RAY_ADDRESS names); with an ADDRESS, on that cluster (needs the "
            "[ray] extra; the numbers are those of a local evaluation)",
            metavar="ADDRESS",
            const=DEFAULT,
        ),
    )
    out: str | None = field(
        default=None, metadata=doc("folder for results.json, episodes.csv and figures")
    )
    save_model: bool = field(
        default=False, metadata=doc("export each episode's grown network to OUT/models")
    )
    device: str = field(default="cpu", metadata=doc("torch device for PPO policies"))
    transfer: bool = field(
        default=False,
        metadata=doc(
            "let a model play an environment other than the one it was trained on (a "
            "transfer experiment; the spaces must still have the same shape)"
        ),
    )

    def __post_init__(self) -> None:
        resolve_env_id(self.env)
        require_device("device", self.device, allow_auto=True, error=SimicError)
        object.__setattr__(self, "policies", tuple(self.policies))
        if not self.policies:
            raise SimicError("evaluate needs at least one --policy")
        if len(set(self.policies)) != len(self.policies):
            raise SimicError(f"a policy is listed twice: {list(self.policies)}")
        for name, low in (("episodes", 1), ("seed", 0), ("n_envs", 1)):
            require_int(name, getattr(self, name), low, SimicError)
        if self.seed + self.episodes > EVALUATION_SEED_LIMIT:
            raise SimicError(
                "evaluation seeds must stay below 10**9 (training uses [10**9, 2*10**9))"
            )
        if self.save_model and self.out is None:
            raise SimicError("--save-model needs --out")
        if self.batched and self.ray is not None:
            raise SimicError("--batched plays in this process; leave --ray out")
        if self.batched and resolve_env_id(self.env) not in envs.BATCHABLE_IDS:
            raise SimicError(
                f"--batched cannot batch {self.env}; batchable ids: {', '.join(envs.BATCHABLE_IDS)}"
            )
        if self.ray is not None:
            check_address(self.ray, "--ray")
            if self.n_envs != 1:
                raise SimicError("--ray plays episodes as Ray tasks; leave --n-envs out")
            require_ray("simic evaluate --ray")  # before any work: one line if not installed

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.episodes))


def family_instances(env_id: str) -> tuple[str, ...]:
    """The instance names of a task-family id (empty for any other id)."""
    family = envs.FAMILIES.get(bare_env_id(env_id))
    return family.names if family is not None else ()
