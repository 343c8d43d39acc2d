"""GrowthEnv: a Gymnasium environment in which growing a network while it trains is the game."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs.actions import (
    ActionCodec,
    GrowthAction,
    InvalidActionError,
    action_index,
)
from envs.config import ConfigError, GrowthEnvConfig
from envs.data import BatchStream, TaskData
from envs.episode import Episode
from envs.evaluation import evaluate_split
from envs.family import Instance, TaskFamily
from envs.observation import ContextView, ObservationLayout
from envs.reward import RewardTerms, RewardTracker
from envs.stepping import (
    DEFAULT_STEPPING,
    SeedMeasurement,
    Stepping,
    TrainStats,
    gradient_ratios,
    recover_from_oom,
)
from envs.tasks import TaskSpec, get_task
from kasmina import (
    MemoryGovernor,
    MorphogeneticModel,
    StageChange,
    seeded_init,
)
from kasmina.errors import KasminaError, UnknownChoiceError
from kasmina.threads import torch_threads


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
    * v0: initial version. The batched twin :class:`~envs.BatchedGrowthEnv` (the ids'
      ``vector_entry_point``) plays v0 within float rounding; the single env's numbers are
      unchanged by it (its step was only split into named parts).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    family: TaskFamily | None = None
    """The task family the episodes are drawn from (:mod:`envs.family`); ``None`` here."""
    instance: Instance | None = None
    """The current family instance; ``None`` for a plain env."""
    stepping: Stepping = DEFAULT_STEPPING
    """The training and measuring work of every step (:mod:`envs.stepping`): the seam to time,
    check or replace it; assign a :class:`~envs.stepping.Stepping` on an instance."""

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
        return (data.as_sequences() if self.task.as_sequence else data).to(self.device)

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
            batches = self._batch_stream(np.random.default_rng(data_seed))
            val_loss, val_acc = evaluate_split(model, self.data.val, self.config.val_batch_size)
            model.governor.poll(0, self.device)  # the first observation shows the pressure
            params = model.param_counts()
        tracker = RewardTracker(self.reward_config)
        self._episode = Episode(model, batches, tracker, params, val_loss, [val_acc], val_acc)
        info = {"step": 0, "val_accuracy": val_acc, "val_loss": val_loss}
        return self._observe(), self._add_info(info)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ep = self._running()
        started = time.perf_counter()
        with self._threads():
            decoded, invalid = self._interpret(action)
            changes = self._apply(decoded, invalid)
            train = self._after_training(
                self.stepping.train(
                    ep.model, self.data.train, ep.batches, self.config.batches_per_step
                )
            )
            trained = time.perf_counter()
            measured = None
            if not train.diverged:
                measured = self.stepping.measure(
                    ep.model, self.data.val, self.config.val_batch_size
                )
        result = self._finish_step(decoded, invalid, changes, train, measured)
        if self.config.record_timing:
            result[4]["timing"] = {
                "train_s": trained - started,
                "step_s": time.perf_counter() - started,
            }
        return result

    # The step in its parts, in order: interpret, apply, (train), after_training, (measure),
    # finish_step. step() runs them on this env's own work; envs.batched.BatchedGrowthEnv runs
    # the same parts around one training and measuring call for many envs, so both report the
    # same rewards, observations and infos from the same code.
    def _running(self) -> Episode:
        ep = self._episode
        if ep is None or ep.done:
            raise KasminaError(
                "GrowthEnv.step() called on a finished or never-reset episode; call reset() first"
            )
        return ep

    def _apply(self, decoded: GrowthAction, invalid: bool) -> list[StageChange]:
        """Carry out an interpreted action (a masked one changes nothing)."""
        return [] if invalid else self._ep.apply(decoded)

    def _finish_step(
        self,
        decoded: GrowthAction,
        invalid: bool,
        changes: list[StageChange],
        train: TrainStats,
        measured: SeedMeasurement | None,
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Book a trained (and, unless diverged, measured) step: lifecycle, reward, outputs."""
        ep, cfg = self._ep, self.config
        ep.prev_train_loss = ep.train.loss if ep.train else None
        ep.train = train
        previous_acc = ep.val_history[-1]
        acc = previous_acc
        if measured is not None:
            ep.val_loss, acc = measured.loss, measured.accuracy
            ep.contributions = dict(measured.contributions)
        changes = changes + ep.model.advance_lifecycle()
        ep.params = ep.model.param_counts()
        ep.t += 1
        ep.val_history.append(acc)
        ep.best_val_acc = max(ep.best_val_acc, acc)
        terminated = train.diverged or ep.t >= cfg.budget
        ep.done = terminated
        terms = ep.tracker(ep.reward_context(cfg.budget, previous_acc, acc, invalid, terminated))
        info = self._add_info(self._info(decoded, invalid, changes, terms, terminated))
        return self._observe(), float(terms.total), terminated, False, info

    def _batch_stream(self, rng: np.random.Generator) -> BatchStream:
        """The episode's training batches: ``train_fraction`` of the split, and with
        ``early_classes`` only those classes until ``class_shift_step``."""
        cfg, classes = self.config, self.data.num_classes
        if cfg.early_classes is not None and cfg.early_classes >= classes:
            raise ConfigError(
                f"GrowthEnv early_classes must be below the task's {classes} classes "
                f"(1..{classes - 1}), got {cfg.early_classes}"
            )
        return BatchStream.over(
            self.data.train,
            cfg.train_size(len(self.data.train)),
            cfg.batch_size,
            rng,
            early_classes=cfg.early_classes,
            early_batches=cfg.class_shift_step * cfg.batches_per_step,
        )

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
            [self._episode.age(s.slot_id) for s in slots],
            self.config.min_prune_age,
        )

    def decode_action(self, action: int) -> GrowthAction:
        """The typed action behind an integer."""
        return self.codec.decode(action)

    def encode_action(self, action: GrowthAction) -> int:
        """The integer of a typed action."""
        return self.codec.encode(action)

    # ------------------------------------------------------------------------------ step parts
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
                    decoded, slot.stage, self._ep.age(slot.slot_id), self.config.min_prune_age
                )
            )
        return decoded, True

    def _after_training(self, stats: TrainStats) -> TrainStats:
        """After the step's training batches: after a double out-of-memory the newest seed
        goes; otherwise the gradient ratios of the finished step are kept."""
        ep = self._ep
        if stats.oom:
            stats, pruned = recover_from_oom(ep.model, stats, ep.germinated_at)
            if pruned is not None:
                ep.counts["pruned"] += 1
        elif not stats.diverged:  # gradients of a finished step (a cut-off one keeps the last)
            ep.grad_ratios = gradient_ratios(ep.model)
        return stats

    # ------------------------------------------------------------------------------ outputs
    def _observe(self) -> np.ndarray:
        ep, cfg = self._ep, self.config
        blueprints = self.codec.blueprints
        view = ep.observation_view(
            cfg.budget, self.data.num_classes, blueprints, self._context_view()
        )
        return self.layout.write(view)

    def _context_view(self) -> ContextView | None:
        """The observed instance context (``None``: a plain env observes none)."""
        return None

    def _info(
        self,
        action: GrowthAction,
        invalid: bool,
        changes: list[StageChange],
        terms: RewardTerms,
        terminated: bool,
    ) -> dict[str, Any]:
        ep = self._ep
        info = ep.info(action, invalid, changes, terms)
        if terminated:
            with self._threads():
                test = evaluate_split(ep.model, self.data.test, self.config.val_batch_size)
            info["test_accuracy"] = test[1]
        return info
