"""Baselines that know the instance in advance: the best per-instance choice, tuned beforehand.

On a task family (``simic/Grow-Family-*``) each episode plays one instance (host widths, price,
task). A learned controller must infer what it needs from the observation; these baselines are
handed the answer: a table, made by ``benchmarks/tune_baselines.py`` on *training* episode seeds
only, maps each instance to its best setting:

================ ===========================================================================
schedule-best    the best open-loop :class:`~simic.policies.schedule.Schedule` per instance
heuristic-tuned  the heuristic with the best thresholds per instance (a small grid)
================ ===========================================================================

The tables ship with the package in ``simic/policies/tuned/<name>.json`` (see
:class:`TunedTable` for the format).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.atomic import atomic_write_text
from envs.config import GrowthEnvConfig
from simic.policies.base import MaskedPolicy, PolicyError, growth_env
from simic.policies.heuristic import HeuristicPolicy
from simic.policies.registry import register_policy
from simic.policies.schedule import Schedule, SchedulePolicy

TABLE_DIR = Path(__file__).resolve().parent / "tuned"


@dataclass(frozen=True)
class TunedTable:
    """Per instance name, the chosen setting, its tuning score and the alternatives tried.

    Attributes:
        policy: The registered name the table belongs to.
        entries: Instance name -> setting (a schedule's text, or heuristic thresholds).
        scores: Instance name -> mean return of the chosen setting on the tuning seeds.
        tuning: How it was tuned (seeds, env kwargs, candidates): provenance for readers.
    """

    policy: str
    entries: Mapping[str, Any]
    scores: Mapping[str, float] = field(default_factory=dict)
    tuning: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TunedTable:
        try:
            data = json.loads(path.read_text())
            return cls(data["policy"], data["entries"], data["scores"], data["tuning"])
        except FileNotFoundError:
            raise PolicyError(
                f"no tuned table at {path}; make it with 'python -m benchmarks.tune_baselines'"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"tuned table {path} is unreadable ({exc})") from None

    def save(self, path: Path) -> Path:
        data = {
            "policy": self.policy,
            "entries": dict(self.entries),
            "scores": dict(self.scores),
            "tuning": dict(self.tuning),
        }
        return atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class PerInstancePolicy(MaskedPolicy):
    """Plays, in each episode, the policy its table chose for the episode's instance."""

    table_name: ClassVar[str]

    def __init__(self, env: gym.Env, table: TunedTable | None = None) -> None:
        super().__init__(env)
        self.env = env
        self.table = table or TunedTable.load(TABLE_DIR / f"{self.table_name}.json")
        _check_tuned_for(env, self.table)
        self._built: dict[str, MaskedPolicy] = {}
        self._active: MaskedPolicy | None = None

    def build(self, setting: Any) -> MaskedPolicy:
        """The policy that plays ``setting`` (one table entry)."""
        raise NotImplementedError

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._active = None  # chosen at the first step, once the env has drawn its instance

    def choose(self, observation: np.ndarray, action_masks: np.ndarray) -> int:
        if self._active is None:
            self._active = self._for(_instance_name(self.env))
            self._active.reset(self.episode_seed)
        return self._active.predict(observation, action_masks)

    def _for(self, instance: str) -> MaskedPolicy:
        if instance not in self.table.entries:
            raise PolicyError(
                f"{self.name} has no tuned setting for instance {instance!r}; tuned: "
                f"{', '.join(sorted(self.table.entries))}"
            )
        if instance not in self._built:
            self._built[instance] = self.build(self.table.entries[instance])
        return self._built[instance]


UNTUNED = ("param_rent", "host_widths", "device", "torch_threads", "data_dir", "memory_probe")
"""Settings a table need not have been tuned at: the instance's own (it is looked up by them),
and those that do not change what an episode does."""


def _check_tuned_for(env: gym.Env, table: TunedTable) -> None:
    """Refuse an env the table cannot serve: not a task family, or other episode settings.

    A table's settings are best for the game it was tuned on; played with another budget or
    another training step, they are an untested guess, not the baseline they claim to be.
    """
    base = growth_env(env)
    if base.family is None:
        raise PolicyError(
            f"{table.policy} needs a task family env (simic/Grow-Family-*): it plays the setting "
            f"tuned for each episode's instance, and {_env_name(base)} has no instances"
        )
    if "env_kwargs" not in table.tuning:
        return  # a table made by hand, which says nothing of how it was tuned
    tuned_kwargs = dict(table.tuning["env_kwargs"])
    tuned = GrowthEnvConfig.from_kwargs(base.task, {**tuned_kwargs, **base.instance.env_kwargs()})
    differ = [
        f"{f.name}={getattr(base.config, f.name)!r} (tuned at {getattr(tuned, f.name)!r})"
        for f in dataclasses.fields(GrowthEnvConfig)
        if f.name not in UNTUNED and getattr(tuned, f.name) != getattr(base.config, f.name)
    ]
    if differ:
        raise PolicyError(
            f"{table.policy} was tuned on other episode settings than this env's: "
            f"{', '.join(differ)}; play it at the settings it was tuned for, or tune a table "
            "for these with 'python -m benchmarks.tune_baselines'"
        )


def _env_name(env: gym.Env) -> str:
    spec = env.spec
    return spec.id if spec is not None else f"task {growth_env(env).task.name}"


def _instance_name(env: gym.Env) -> str:
    instance = getattr(growth_env(env), "instance", None)
    if instance is None:
        raise PolicyError("per-instance baselines need a task family env (simic/Grow-Family-*)")
    return str(instance.name)


@register_policy("schedule-best")
class BestSchedulePolicy(PerInstancePolicy):
    """The best open-loop schedule for the episode's instance (tuned on training seeds)."""

    table_name = "schedule-best"

    def build(self, setting: Any) -> MaskedPolicy:
        return SchedulePolicy(self.env, Schedule.parse(str(setting)))


@register_policy("heuristic-tuned")
class TunedHeuristicPolicy(PerInstancePolicy):
    """The heuristic with the thresholds tuned for the episode's instance."""

    table_name = "heuristic-tuned"

    def build(self, setting: Any) -> MaskedPolicy:
        if not isinstance(setting, Mapping):
            raise PolicyError(f"heuristic-tuned entries are threshold mappings, got {setting!r}")
        return HeuristicPolicy(self.env, **setting)
