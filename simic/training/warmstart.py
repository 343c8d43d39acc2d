"""Warm-starting PPO from a teacher's demonstrations (behaviour cloning, then PPO).

PPO started from scratch on the growth game tends to settle in a strong local optimum: one
cheap seed, whatever the price (``docs/learning-notes.md``). Cloning a competent teacher
first (a registered policy, e.g. the heuristic or a per-instance tuned baseline) starts learning
above that floor instead of climbing to it. Both heads are fitted: the actor to the teacher's
actions (masked cross-entropy), the critic to the returns the teacher got, so that the first
PPO updates see sensible advantages instead of tearing the cloned policy down.

PPO may then be kept near the clone: :class:`CloneAnchor` (a callback) takes a few
behaviour-cloning minibatches on the same demonstrations after every PPO update, so that an
update made for one instance does not drag along the clone's choice on another whose observed
context is close (``warm_start_anchor``).

This only uses the model's public policy object (``model.policy``) and a callback: PPO itself
is not subclassed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from envs.atomic import atomic_write_bytes
from simic.policies import Step, make_policy, run_episode


@dataclass(frozen=True)
class Demonstrations:
    """Teacher episodes as arrays: what it saw, its masks, what it did, and returns-to-go."""

    observations: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    episode_returns: tuple[float, ...]


@dataclass(frozen=True)
class CloneReport:
    """How well the clone fits: action agreement with the teacher, and the critic's error."""

    episodes: int
    samples: int
    teacher_return: float
    accuracy: float
    value_rmse: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def collect(env: gym.Env, teacher: str, seeds: list[int], gamma: float) -> Demonstrations:
    """Play ``teacher`` (a registered policy name) on ``env`` for one episode per seed."""
    policy = make_policy(teacher, env.unwrapped)
    steps: list[Step] = []
    returns: list[float] = []
    totals: list[float] = []
    for seed in seeds:
        result = run_episode(env, policy, seed, on_step=steps.append)
        returns.extend(_returns_to_go(list(result.rewards), gamma))
        totals.append(sum(result.rewards))
    return Demonstrations(
        np.asarray([s.observation for s in steps], dtype=np.float32),
        np.asarray([s.mask for s in steps], dtype=bool),
        np.asarray([s.action for s in steps], dtype=np.int64),
        np.asarray(returns, dtype=np.float32),
        tuple(totals),
    )


def save_demonstrations(demos: Demonstrations, path: Path) -> None:
    """Write ``demos`` to ``path`` (``.npz``) atomically: a resumed run anchors to the same ones."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        observations=demos.observations,
        masks=demos.masks,
        actions=demos.actions,
        returns=demos.returns,
        episode_returns=np.asarray(demos.episode_returns, dtype=np.float64),
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_demonstrations(path: Path) -> Demonstrations:
    with np.load(path) as data:
        return Demonstrations(
            data["observations"],
            data["masks"],
            data["actions"],
            data["returns"],
            tuple(float(r) for r in data["episode_returns"]),
        )


def _returns_to_go(rewards: list[float], gamma: float) -> list[float]:
    out, running = [], 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running
        out.append(running)
    return out[::-1]


def clone(
    model: Any,
    demos: Demonstrations,
    *,
    epochs: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> CloneReport:
    """Fit ``model.policy`` (a MaskablePPO policy) to ``demos``: actor and critic."""
    policy = model.policy
    device = policy.device
    obs = torch.as_tensor(demos.observations, device=device)
    masks = demos.masks
    actions = torch.as_tensor(demos.actions, device=device)
    returns = torch.as_tensor(demos.returns, device=device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng(seed)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = rng.permutation(len(actions))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            values, log_prob, _ = policy.evaluate_actions(
                obs[idx], actions[idx], action_masks=masks[idx]
            )
            loss = -log_prob.mean() + torch.mean((values.flatten() - returns[idx]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    return _report(policy, obs, masks, actions, returns, demos)


@torch.no_grad()
def _report(
    policy: Any,
    obs: torch.Tensor,
    masks: np.ndarray,
    actions: torch.Tensor,
    returns: torch.Tensor,
    demos: Demonstrations,
) -> CloneReport:
    dist = policy.get_distribution(obs, action_masks=masks)
    predicted = dist.distribution.probs.argmax(dim=1)
    values = policy.predict_values(obs).flatten()
    return CloneReport(
        episodes=len(demos.episode_returns),
        samples=len(actions),
        teacher_return=float(np.mean(demos.episode_returns)),
        accuracy=float((predicted == actions).float().mean()),
        value_rmse=float(torch.sqrt(torch.mean((values - returns) ** 2))),
    )


class CloneAnchor(BaseCallback):
    """``steps`` behaviour-cloning minibatches on ``demos`` after every PPO update.

    Runs when a rollout starts, except the first of each ``learn`` call (no update precedes
    it), on the policy's own optimizer: the actor's masked cross-entropy to the teacher's
    actions, as :func:`clone` fits it. Minibatches are drawn from a generator seeded by
    ``seed``, so a run is reproducible.
    """

    def __init__(
        self, demos: Demonstrations, steps: int, *, batch_size: int = 256, seed: int = 0
    ) -> None:
        super().__init__()
        self.demos, self.steps, self.batch_size = demos, steps, batch_size
        self.rng = np.random.default_rng(seed)
        self._rollouts = 0
        self._tensors: tuple[torch.Tensor, torch.Tensor] | None = None

    def _on_training_start(self) -> None:
        self._rollouts = 0
        device = self.model.policy.device  # the demonstrations move there once per learn call
        self._tensors = (
            torch.as_tensor(self.demos.observations, device=device),
            torch.as_tensor(self.demos.actions, device=device),
        )

    def _on_rollout_start(self) -> None:
        self._rollouts += 1
        if self._rollouts == 1 or self.steps == 0:
            return
        assert self._tensors is not None  # set when training starts
        (obs, actions), policy = self._tensors, self.model.policy
        policy.set_training_mode(True)
        for _ in range(self.steps):
            idx = self.rng.integers(0, len(actions), self.batch_size)
            _, log_prob, _ = policy.evaluate_actions(
                obs[idx], actions[idx], action_masks=self.demos.masks[idx]
            )
            loss = -log_prob.mean()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
        policy.set_training_mode(False)

    def _on_step(self) -> bool:
        return True
