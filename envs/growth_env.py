"""GrowthEnv: a Gymnasium environment in which growing a network while it trains is the game."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import Tensor

from envs.actions import (
    ActionCodec,
    ActionKind,
    GrowthAction,
    InvalidActionError,
    action_index,
)
from envs.config import GrowthEnvConfig
from envs.data import BatchStream, Split, TaskData
from envs.evaluation import evaluate_counterfactuals, evaluate_split
from envs.family import Instance, TaskFamily
from envs.observation import ContextView, ObservationLayout, ObservationView, SlotView, squash
from envs.reward import RewardContext, RewardTerms, RewardTracker
from envs.tasks import TaskSpec, get_task
from kasmina import (
    GrowthOOMError,
    MemoryGovernor,
    MorphogeneticModel,
    ParamCounts,
    SeedStage,
    StageChange,
    seeded_init,
)
from kasmina.errors import KasminaError, UnknownChoiceError
from kasmina.threads import torch_threads


@dataclass(frozen=True)
class TrainStats:
    """What one step's training batches measured."""

    loss: float
    accuracy: float
    diverged: bool
    oom: bool


@dataclass
class Episode:
    """Everything one episode of a :class:`GrowthEnv` changes; ``reset`` creates a fresh one.

    Attributes:
        model: The host and its seeds.
        batches: The episode's training-batch order.
        tracker: Accumulates the reward terms.
        params: Parameter counts after the last step.
        val_loss: Validation loss after the last step.
        val_history: Validation accuracy at reset, then after every step.
        best_val_acc: The best of ``val_history``.
        t: Steps taken.
        done: The episode has ended (``step`` needs a ``reset``).
        train: What the last step's training measured (``None`` before the first step).
        prev_train_loss: The training loss of the step before (for the loss delta).
        germinated_at: The step at which each slot's current seed was germinated.
        contributions: Counterfactual accuracy gain of each live seed, last measured.
        grad_ratios: Seed / host gradient norm of each live seed on the last batch.
        counts: Seeds germinated, fossilized and pruned so far.
    """

    model: MorphogeneticModel
    batches: BatchStream
    tracker: RewardTracker
    params: ParamCounts
    val_loss: float
    val_history: list[float]
    best_val_acc: float
    t: int = 0
    done: bool = False
    train: TrainStats | None = None
    prev_train_loss: float | None = None
    germinated_at: dict[str, int] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)
    grad_ratios: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"germinated": 0, "fossilized": 0, "pruned": 0}
    )

    @property
    def initial_val_acc(self) -> float:
        return self.val_history[0]


def _as_sequence(split: Split) -> Split:
    return Split(split.x.transpose(1, 2).contiguous(), split.y)


class GrowthEnv(gym.Env[np.ndarray, np.int64]):
    """Grow a neural network while it trains.

    ## Description
    An episode is one full training run of a small host network on an embedded classification
    task. Every step trains the host (and its live seeds) for ``batches_per_step`` batches, then
    measures validation accuracy. The agent decides when to *germinate* a blueprint (a small
    residual module) into one of the host's seed slots, and whether to *fossilize* (keep) or
    *prune* each seed once it has trained in isolation and blended in. Growth is worth what it
    adds to validation accuracy minus the parameters it costs.

    ## Action Space
    ``Discrete(1 + S*B + 2*S)`` for S slots and B blueprints: 0 is WAIT, then
    GERMINATE(slot, blueprint), FOSSILIZE(slot), PRUNE(slot); see :mod:`envs.actions`,
    :meth:`decode_action` and :meth:`encode_action`. :meth:`action_masks` gives the valid ones:
    WAIT always; GERMINATE into a DORMANT slot; FOSSILIZE a HOLDING seed; PRUNE a live seed at
    least ``min_prune_age`` steps old. A masked action is a no-op with
    ``info["invalid_action"] = True`` and a penalty (``strict=True`` raises instead).
    Seeds move TRAINING -> BLENDING -> HOLDING on their own schedule. An action is an int, a
    numpy integer or a one-element integer array; a float, str, bool or None raises
    :class:`~envs.actions.InvalidActionError`.

    ## Observation Space
    A float32 ``Box`` of 12 global features and ``13 + B`` per slot, each in a documented range;
    not-yet-measured values are -2 (:data:`envs.observation.UNKNOWN`). The full table, index by
    index, is ``env.unwrapped.layout.table()`` (also in the README):

    | features | meaning |
    |---|---|
    | budget_used, best_val_accuracy | progress of the training run |
    | train/val loss and accuracy | last step's measurements (losses / ln(classes)) |
    | val_accuracy_delta(3), train_loss_delta | recent changes (scaled) |
    | param_growth, memory_pressure, checkpointing | cost and machine state |
    | per slot: stage one-hot, blueprint one-hot | what grows where |
    | per slot: alpha, steps_in_stage, param_share | lifecycle state and size of the seed |
    | per slot: contribution, grad_ratio | counterfactual value and gradient share of the seed |

    ## Rewards
    Dense by default: the change in validation accuracy minus a parameter rent
    ``param_rent * (seed params / host params) / budget`` (and ``invalid_action_penalty`` for a
    masked action), so the return telescopes to final minus initial validation accuracy minus
    the average growth cost. ``reward="terminal"`` pays the same total at the end; a callable
    receives an :class:`envs.reward.RewardContext`. ``info["reward_terms"]`` is the breakdown.
    The test split never enters the reward: ``info["test_accuracy"]`` is reported on the final
    step only.

    ## Episode End
    The episode **terminates** when the budget of steps is spent (the fraction used is observed,
    so this is a true terminal state; there is no truncation). A non-finite training loss also
    terminates it, with ``-divergence_penalty`` and ``info["diverged"] = True``. Running out of
    memory twice in a step prunes the newest live seed and sets ``info["oom"]``.

    ## Arguments
    ``GrowthEnv(task="mnist1d", **kwargs)``; ``task`` is one of ``envs.TASKS``
    (``"mnist1d"``, ``"mnist1d-transformer"``, ``"digits"``, ``"cifar10"``) and the keyword
    arguments are the fields of :class:`envs.GrowthEnvConfig` (budget, batches per step,
    optimizer, slots, blueprints, lifecycle timings, reward, device, ...). An unknown keyword or
    value raises an error that lists the valid ones.

    >>> import gymnasium as gym, envs
    >>> env = gym.make("simic/Grow-MNIST1D-v0", budget=3, batches_per_step=1)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape == env.observation_space.shape, bool(env.unwrapped.action_masks()[0])
    (True, True)
    >>> action = env.unwrapped.encode_action(
    ...     envs.GrowthAction(envs.ActionKind.GERMINATE, "block1", "conv_light"))
    >>> obs, reward, terminated, truncated, info = env.step(action)
    >>> info["action"], info["invalid_action"], terminated
    ('GERMINATE(block1, conv_light)', False, False)

    ## Version History
    * v0: initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    family: TaskFamily | None = None
    """The task family the episodes are drawn from (:mod:`envs.family`); ``None`` here."""
    instance: Instance | None = None
    """The current family instance; ``None`` for a plain env."""

    def __init__(self, task: str = "mnist1d", **kwargs: Any) -> None:
        super().__init__()
        self.task: TaskSpec = get_task(task)
        self.config = GrowthEnvConfig.from_kwargs(self.task, kwargs)
        self.init_kwargs: dict[str, Any] = dict(kwargs)  # what a replay needs to rebuild it
        self.device = torch.device(self.config.device)
        self.slots = self._resolve_slots()
        self.codec = ActionCodec(self.slots, self.config.blueprint_set(self.task))
        self.layout = ObservationLayout(self.slots, self.codec.blueprints)
        self.action_space = spaces.Discrete(self.codec.n)
        self.observation_space = self.layout.space
        self.reward_config = self.config.reward_config()
        self.data = self._load_data()
        self._episode: Episode | None = None  # created by reset()

    @property
    def model(self) -> MorphogeneticModel | None:
        """The episode's network (``None`` before the first reset)."""
        return None if self._episode is None else self._episode.model

    @property
    def _ep(self) -> Episode:
        assert self._episode is not None, "reset() creates the episode"
        return self._episode

    # ------------------------------------------------------------------------------ set-up
    def _resolve_slots(self) -> tuple[str, ...]:
        with seeded_init(0):
            points = self.task.make_host(self.config.host_widths).injection_points()
        if self.config.slots is None:
            return tuple(points)
        for slot in self.config.slots:
            if slot not in points:
                raise UnknownChoiceError("slot", slot, points, context=f"for task {self.task.name}")
        return self.config.slots

    def _load_data(self) -> TaskData:
        data = self.task.load_data(self.config.data_dir)
        if self.task.as_sequence:
            data = TaskData(
                _as_sequence(data.train),
                _as_sequence(data.val),
                _as_sequence(data.test),
                data.num_classes,
            )
        return data.to(self.device)

    # ------------------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # Everything but the data set pickles as it is (host, seeds, optimizers, torch and numpy
        # generators, the batch order). The data is left out: (task, data_dir) fix it, it is
        # most of the size (CIFAR-10: ~700 MB of float32), and reloading it goes through the
        # per-process memo, so envs unpickled into one process share one copy.
        state = self.__dict__.copy()
        del state["data"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.data = self._load_data()

    def _threads(self) -> AbstractContextManager[None]:
        return torch_threads(self.config.torch_threads)

    def _build_model(self, host_seed: int, model_seed: int) -> MorphogeneticModel:
        with seeded_init(host_seed):
            host = self.task.make_host(self.config.host_widths)
        host.to(self.device)
        cfg = self.config
        return MorphogeneticModel(
            host,
            slots=list(self.slots),
            lifecycle=cfg.lifecycle(),
            host_optimizer=cfg.optimizer_spec(cfg.host_lr),
            seed_optimizer=cfg.optimizer_spec(cfg.seed_lr),
            governor=MemoryGovernor(cfg.memory_probe),
            seed=model_seed,
        )

    # ------------------------------------------------------------------------------ API
    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        host_seed, model_seed, data_seed = (
            int(s) for s in self.np_random.integers(0, 2**31 - 1, size=3)
        )
        self._prepare_episode(options)
        with self._threads():
            model = self._build_model(host_seed, model_seed)
            batches = BatchStream(
                len(self.data.train),
                self.config.batch_size,
                np.random.default_rng(data_seed),
                self.device,
            )
            val_loss, val_acc = evaluate_split(model, self.data.val, self.config.val_batch_size)
            model.governor.poll(0, self.device)  # the first observation shows the pressure
            params = model.param_counts()
        tracker = RewardTracker(self.reward_config)
        self._episode = Episode(model, batches, tracker, params, val_loss, [val_acc], val_acc)
        info = {"step": 0, "val_accuracy": val_acc, "val_loss": val_loss}
        return self._observe(), self._add_info(info)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ep = self._episode
        if ep is None or ep.done:
            raise KasminaError(
                "GrowthEnv.step() called on a finished or never-reset episode; call reset() first"
            )
        started = time.perf_counter()
        with self._threads():
            decoded, invalid = self._interpret(action)
            changes = [] if invalid else self._apply(decoded)
            ep.prev_train_loss = ep.train.loss if ep.train else None
            ep.train = train = self._train_batches()
            trained = time.perf_counter()
            previous_acc = ep.val_history[-1]
            if not train.diverged:
                ep.val_loss, acc = self._measure_seeds()
            else:
                acc = previous_acc
            changes += ep.model.advance_lifecycle()
        ep.params = ep.model.param_counts()
        ep.t += 1
        ep.val_history.append(acc)
        ep.best_val_acc = max(ep.best_val_acc, acc)
        terminated = train.diverged or ep.t >= self.config.budget
        ep.done = terminated
        terms = ep.tracker(self._context(previous_acc, acc, invalid, terminated))
        info = self._add_info(self._info(decoded, invalid, changes, terms, terminated))
        if self.config.record_timing:
            info["timing"] = {"train_s": trained - started, "step_s": time.perf_counter() - started}
        return self._observe(), float(terms.total), terminated, False, info

    def _prepare_episode(self, options: dict[str, Any] | None) -> None:
        """Set up what varies per episode before the host is built (task families do).

        Called after the episode's seeds are drawn, so that an episode of a family instance
        equals the plain env's episode configured the same way, seed for seed.
        """

    def _add_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """Extra info of every reset and step (a family env adds its instance)."""
        return info

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the actions valid now (read by sb3-contrib's MaskablePPO)."""
        if self._episode is None:
            mask = np.zeros(self.codec.n, dtype=bool)
            mask[0] = True
            return mask
        slots = [self._episode.model.slot(s) for s in self.slots]
        return self.codec.masks(
            [s.stage for s in slots],
            [self._age(s.slot_id) for s in slots],
            self.config.min_prune_age,
        )

    def decode_action(self, action: int) -> GrowthAction:
        """The typed action behind an integer."""
        return self.codec.decode(action)

    def encode_action(self, action: GrowthAction) -> int:
        """The integer of a typed action."""
        return self.codec.encode(action)

    # ------------------------------------------------------------------------------ step parts
    def _age(self, slot_id: str) -> int:
        ep = self._ep
        return ep.t - ep.germinated_at.get(slot_id, ep.t)

    def _interpret(self, action: Any) -> tuple[GrowthAction, bool]:
        index = action_index(action, self.codec.n)  # 2.7, "3", None or [0, 1] raise here
        decoded = self.codec.decode(index)
        if self.action_masks()[index]:
            return decoded, False
        if self.config.strict:
            slot = self._ep.model.slot(decoded.slot)  # type: ignore[arg-type]
            raise InvalidActionError(
                f"action {index} ({decoded}) is not valid now: "
                + self.codec.why_invalid(
                    decoded, slot.stage, self._age(slot.slot_id), self.config.min_prune_age
                )
            )
        return decoded, True

    def _apply(self, action: GrowthAction) -> list[StageChange]:
        ep, slot = self._ep, action.slot
        model = ep.model
        if action.kind is ActionKind.GERMINATE:
            ep.germinated_at[slot] = ep.t  # type: ignore[index]
            ep.counts["germinated"] += 1
            return [model.germinate(slot, action.blueprint)]  # type: ignore[arg-type]
        if action.kind is ActionKind.FOSSILIZE:
            ep.counts["fossilized"] += 1
            return [model.fossilize(slot)]  # type: ignore[arg-type]
        if action.kind is ActionKind.PRUNE:
            ep.counts["pruned"] += 1
            return [model.prune(slot)]  # type: ignore[arg-type]
        return []

    def _train_batches(self) -> TrainStats:
        ep, train = self._ep, self.data.train
        model = ep.model
        losses: list[float] = []
        hits: list[Tensor] = []  # summed once at the end: no device sync per batch

        def loss_fn(logits: Tensor, targets: Tensor) -> Tensor:
            hits.append((logits.detach().argmax(dim=1) == targets).sum())
            return F.cross_entropy(logits, targets)

        for _ in range(self.config.batches_per_step):
            idx = ep.batches.next()
            try:
                result = model.train_step(train.x[idx], train.y[idx], loss_fn)
            except GrowthOOMError:
                hits = hits[: len(losses)]  # drop the failed batch's count
                return self._recover_from_oom(losses, _count(hits), len(losses) * len(idx))
            losses.append(result.loss)
            if not np.isfinite(result.loss):
                return TrainStats(
                    float("inf"), _accuracy(hits, len(losses) * len(idx)), diverged=True, oom=False
                )
        ep.grad_ratios = self._gradient_ratios()
        seen = len(losses) * self.config.batch_size
        return TrainStats(float(np.mean(losses)), _accuracy(hits, seen), False, False)

    def _recover_from_oom(self, losses: list[float], correct: int, seen: int) -> TrainStats:
        """Prune the newest live seed; with none to prune the run cannot go on (diverged)."""
        ep = self._ep
        live = [s for s in self.slots if ep.model.slot(s).stage.is_live]
        if not live:
            return TrainStats(float("inf"), 0.0, diverged=True, oom=True)
        newest = max(live, key=lambda s: (ep.germinated_at.get(s, -1), self.slots.index(s)))
        ep.model.prune(newest)
        ep.counts["pruned"] += 1
        loss = float(np.mean(losses)) if losses else float("nan")
        return TrainStats(loss, correct / seen if seen else float("nan"), False, oom=True)

    def _gradient_ratios(self) -> dict[str, float]:
        model = self._ep.model
        host = _grad_norm(model.host.parameters())
        ratios = {}
        for slot_id in self.slots:
            slot = model.slot(slot_id)
            if slot.stage.is_live and slot.seed is not None and host > 0:
                ratios[slot_id] = _grad_norm(slot.seed.parameters()) / host
        return ratios

    def _evaluate(self, split: Split) -> tuple[float, float]:
        """(mean loss, accuracy) (see :func:`~envs.evaluation.evaluate_split`)."""
        return evaluate_split(self._ep.model, split, self.config.val_batch_size)

    def _measure_seeds(self) -> tuple[float, float]:
        """Validation (loss, accuracy), and each live seed's counterfactual contribution.

        A contribution is accuracy with the seed minus accuracy without it. A TRAINING seed
        does not change the model's output, so it is tested blended in (alpha 1); any other is
        switched off (alpha 0). One shared pass computes all of them (see
        :func:`~envs.evaluation.evaluate_counterfactuals`).
        """
        ep = self._ep
        model = ep.model
        alphas = {
            slot_id: 1.0 if stage is SeedStage.TRAINING else 0.0
            for slot_id in self.slots
            if (stage := model.slot(slot_id).stage).is_live
        }
        loss, acc, other = evaluate_counterfactuals(
            model, self.data.val, self.config.val_batch_size, alphas
        )
        ep.contributions = {
            slot_id: other[slot_id] - acc if alpha == 1.0 else acc - other[slot_id]
            for slot_id, alpha in alphas.items()
        }
        return loss, acc

    def _context(
        self, previous: float, acc: float, invalid: bool, terminated: bool
    ) -> RewardContext:
        ep = self._ep
        assert ep.train is not None
        return RewardContext(
            ep.t,
            self.config.budget,
            ep.initial_val_acc,
            previous,
            acc,
            ep.params.growth_ratio,  # counted once per step, just before
            invalid,
            ep.train.diverged,
            terminated,
        )

    # ------------------------------------------------------------------------------ outputs
    def _observe(self) -> np.ndarray:
        ep, scale = self._ep, float(np.log(self.data.num_classes))
        history, train, governor = ep.val_history, ep.train, ep.model.governor
        prev_loss = ep.prev_train_loss
        view = ObservationView(
            budget_used=ep.t / self.config.budget,
            train_loss=None if train is None else train.loss / scale,
            val_loss=ep.val_loss / scale,
            train_accuracy=None if train is None else train.accuracy,
            val_accuracy=history[-1],
            val_accuracy_delta=None if train is None else 10 * (history[-1] - history[-2]),
            val_accuracy_delta3=10 * (history[-1] - history[-4]) if len(history) >= 4 else None,
            train_loss_delta=(
                None if train is None or prev_loss is None else 5 * (train.loss - prev_loss) / scale
            ),
            best_val_accuracy=ep.best_val_acc,
            param_growth=squash(ep.params.growth_ratio),
            memory_pressure=governor.last_pressure,
            checkpointing=float(governor.checkpointing),
            slots={slot_id: self._slot_view(slot_id) for slot_id in self.slots},
            context=self._context_view(),
        )
        return self.layout.write(view)

    def _context_view(self) -> ContextView | None:
        """The observed instance context (``None``: a plain env observes none)."""
        return None

    def _slot_view(self, slot_id: str) -> SlotView:
        ep = self._ep
        slot = ep.model.slot(slot_id)
        live = slot.stage.is_live
        params = sum(p.numel() for p in slot.seed.parameters()) if slot.seed is not None else 0
        grad_ratio = ep.grad_ratios.get(slot_id) if live else None
        return SlotView(
            stage=slot.stage,
            blueprint=slot.blueprint if slot.blueprint in self.codec.blueprints else None,
            alpha=slot.alpha,
            steps_in_stage=slot.ticks_in_stage / self.config.budget,
            param_share=squash(params / ep.params.host),
            contribution=5 * ep.contributions[slot_id]
            if live and slot_id in ep.contributions
            else None,
            grad_ratio=None if grad_ratio is None else squash(grad_ratio),
        )

    def _info(
        self,
        action: GrowthAction,
        invalid: bool,
        changes: list[StageChange],
        terms: RewardTerms,
        terminated: bool,
    ) -> dict[str, Any]:
        ep, train = self._ep, self._ep.train
        assert train is not None
        counts = ep.params
        info: dict[str, Any] = {
            "step": ep.t,
            "action": str(action),
            "invalid_action": invalid,
            "stage_changes": tuple(f"{c.slot_id}:{c.old.name}->{c.new.name}" for c in changes),
            "train_loss": train.loss,
            "train_accuracy": train.accuracy,
            "val_loss": ep.val_loss,
            "val_accuracy": ep.val_history[-1],
            "param_growth": counts.growth_ratio,
            "params": counts.total,
            "reward_terms": terms,
            "diverged": train.diverged,
            "oom": train.oom,
            **{f"seeds_{k}": n for k, n in ep.counts.items()},
        }
        if terminated:
            with self._threads():
                info["test_accuracy"] = self._evaluate(self.data.test)[1]
        return info


def _count(hits: list[Tensor]) -> int:
    return int(torch.stack(hits).sum()) if hits else 0


def _accuracy(hits: list[Tensor], seen: int) -> float:
    return _count(hits) / seen if seen else float("nan")


def _grad_norm(params: Iterator[torch.nn.Parameter]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    )
