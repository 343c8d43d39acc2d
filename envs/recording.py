"""Episodes as replayable values: (task, keyword arguments, seed, actions) -> identical rewards.

Wrap an environment in :class:`RecordEpisode`, play, ``save`` its ``record`` as JSON; later,
``EpisodeRecord.load(path).validate()`` rebuilds the environment, replays the actions and checks
that every reward is identical (on CPU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from envs.actions import action_index
from envs.atomic import atomic_write_text
from kasmina.errors import UserError

FORMAT_VERSION = 1


class RecordError(UserError, ValueError):
    """An episode that cannot be recorded, saved or loaded as asked."""


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of :meth:`EpisodeRecord.validate`."""

    ok: bool
    steps: int
    first_mismatch: int | None = None
    expected: float | None = None
    actual: float | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"replay matches: {self.steps} steps, every reward identical"
        return (
            f"replay differs at step {self.first_mismatch}: recorded reward "
            f"{self.expected!r}, replayed {self.actual!r}"
        )


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode: enough to rebuild the environment and replay it exactly (on CPU)."""

    task: str
    kwargs: dict[str, Any]
    seed: int
    actions: tuple[int, ...]
    rewards: tuple[float, ...]
    env_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "env_id": self.env_id,
            "task": self.task,
            "kwargs": self.kwargs,
            "seed": self.seed,
            "actions": list(self.actions),
            "rewards": list(self.rewards),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        if data.get("format_version") != FORMAT_VERSION:
            raise RecordError(
                f"episode record format {data.get('format_version')!r} is not "
                f"supported (expected {FORMAT_VERSION})"
            )
        return cls(
            data["task"],
            dict(data["kwargs"]),
            int(data["seed"]),
            tuple(int(a) for a in data["actions"]),
            tuple(float(r) for r in data["rewards"]),
            data.get("env_id"),
            dict(data.get("extra", {})),
        )

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON, atomically (floats round-trip exactly)."""
        try:
            text = json.dumps(self.to_dict(), indent=1, allow_nan=True)
        except TypeError as exc:
            raise RecordError(
                f"episode kwargs are not JSON-serialisable ({exc}); a callable "
                "reward or memory probe cannot be recorded"
            ) from None
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path) -> EpisodeRecord:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise RecordError(f"cannot read episode record {path}: {exc}") from None

    def make_env(self) -> gym.Env:
        """A fresh environment built from the recorded task and keyword arguments."""
        from envs.growth_env import GrowthEnv

        return GrowthEnv(self.task, **self.kwargs)

    def replay(self) -> list[float]:
        """Re-run the episode from scratch and return its rewards."""
        env = self.make_env()
        env.reset(seed=self.seed)
        rewards = []
        for action in self.actions:
            _, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            if terminated or truncated:
                break
        env.close()
        return rewards

    def validate(self) -> ReplayReport:
        """Replay and compare every reward exactly."""
        replayed = self.replay()
        for i, (want, got) in enumerate(zip(self.rewards, replayed, strict=False)):
            if want != got:
                return ReplayReport(False, len(replayed), i, want, got)
        if len(replayed) != len(self.rewards):
            return ReplayReport(False, len(replayed), min(len(replayed), len(self.rewards)))
        return ReplayReport(True, len(replayed))


class RecordEpisode(gym.Wrapper):
    """Records the current episode of a :class:`~envs.GrowthEnv`; ``.record`` returns it."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._seed: int | None = None
        self._actions: list[int] = []
        self._rewards: list[float] = []

    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None:
            raise RecordError(
                "RecordEpisode needs reset(seed=...): an unseeded episode cannot be replayed"
            )
        self._seed, self._actions, self._rewards = seed, [], []
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        # The env accepted it, so it is an index; stored as a plain int for the JSON record.
        self._actions.append(action_index(action, self.env.action_space.n))  # type: ignore[attr-defined]
        self._rewards.append(float(reward))
        return obs, reward, terminated, truncated, info

    @property
    def record(self) -> EpisodeRecord:
        if self._seed is None:
            raise RecordError("no episode recorded yet: call reset(seed=...) first")
        base = self.env.unwrapped
        spec = self.env.spec
        return EpisodeRecord(
            base.task.name,
            dict(base.init_kwargs),
            self._seed,
            tuple(self._actions),
            tuple(self._rewards),
            spec.id if spec is not None else None,
        )
