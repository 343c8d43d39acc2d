"""FamilyGrowthEnv: a :class:`~envs.GrowthEnv` whose every episode is one instance of a family."""

from __future__ import annotations

import math
from typing import Any

from envs.config import ConfigError, GrowthEnvConfig
from envs.family import Instance, InstanceError, TaskFamily, get_family
from envs.growth_env import GrowthEnv
from envs.observation import PRICE_SCALE, ContextView, ObservationLayout
from envs.tasks import TaskSpec, get_task
from kasmina import seeded_init
from kasmina.validation import reject_unknown

_FROM_INSTANCE = ("task", "param_rent", "host_widths")
"""GrowthEnv keywords that the instance sets; a family env refuses them as its own."""


class FamilyGrowthEnv(GrowthEnv):
    """Grow a network on one instance of a task family per episode.

    ## Description
    A :class:`~envs.GrowthEnv` (same actions, rewards, episode end, masks) whose ``reset`` draws
    an :class:`~envs.family.Instance` (task, host widths, ``param_rent``) uniformly from the
    family with the env's seeded ``np_random``: ``reset(seed=s)`` fixes the episode, instance
    included. ``reset(options={"instance": X})`` plays ``X`` instead (an ``Instance``, its name
    or a mapping; any valid instance, not only the family's). The episode's host, model and data
    seeds are drawn *before* the instance, so an episode equals the plain env's episode with
    ``GrowthEnv(instance.task, param_rent=..., host_widths=...)`` and the same seed, reward for
    reward (:class:`~envs.RecordEpisode` records replay that way).

    A family may also have **hidden factors** (:class:`~envs.family.HiddenFactor`: the host's
    learning rate, the training-set size, the step at which new classes arrive, ...), drawn
    after the instance, uniformly, with the same ``np_random``. They are not observed: a
    controller can only infer them from what training shows. ``reset(options={"hidden":
    {...}})`` pins every factor (for paired evaluation); ``info["hidden"]`` says what was
    drawn, for analysis (a policy must not read it). A family's ``fixed`` keywords (e.g.
    ``early_classes``) apply to every episode.

    ## Observation Space
    The plain env's features, then the instance context (:class:`~envs.observation.ContextView`):
    ``context.price`` = param_rent / 0.15 and ``context.host_size`` = log10(host parameters) / 5,
    both clipped to [0, 2]. Every instance has slots ``block0``/``block1`` and the CNN
    blueprints, so the spaces are the same for all of them.

    ## Info
    ``info["instance"]`` is the instance's name on reset and every step; ``info["hidden"]``
    the episode's hidden values, in families that have any.

    ## Arguments
    ``FamilyGrowthEnv(family, **kwargs)``: ``family`` is an id of :data:`envs.FAMILIES` or a
    :class:`~envs.family.TaskFamily`; ``kwargs`` are :class:`~envs.GrowthEnvConfig` fields
    except ``param_rent`` and ``host_widths`` (and ``task``), which come from the instance, and
    the family's hidden and fixed keywords.
    ``env.unwrapped.family`` is the family, ``env.unwrapped.instance`` the current instance
    (before the first reset: the family's first).

    ## Version History
    * v0: initial version.
    """

    def __init__(self, family: str | TaskFamily = "simic/Grow-Family-v0", **kwargs: Any) -> None:
        given = [k for k in _FROM_INSTANCE if k in kwargs]
        if given:
            raise ConfigError(
                f"a task-family env takes {', '.join(given)} from its instances, not as keyword "
                "arguments; play one instance with reset(options={'instance': ...})"
            )
        resolved = family if isinstance(family, TaskFamily) else get_family(family)
        owned = [h.keyword for h in resolved.hidden] + [k for k, _ in resolved.fixed]
        if clash := [k for k in owned if k in kwargs]:
            raise ConfigError(
                f"family {resolved.env_id} sets {', '.join(clash)} itself (hidden or fixed); "
                "it is not a keyword argument of its env"
            )
        first = resolved.instances[0]
        self.family_kwargs: dict[str, Any] = dict(kwargs)
        self._host_sizes: dict[Instance, tuple[tuple[str, ...], int]] = {}
        super().__init__(first.task, **kwargs, **dict(resolved.fixed), **first.env_kwargs())
        self.family = resolved
        self.instance = first
        self.hidden: dict[str, Any] = {}
        for instance in resolved.instances:  # a misfit fails here, not in some later episode
            self._fitting(instance)
            for factor in resolved.hidden:
                for value in factor.values:
                    self._fitting(instance, {factor.keyword: value})
        self.layout = ObservationLayout(self.slots, self.codec.blueprints, context=True)
        self.observation_space = self.layout.space

    def _prepare_episode(self, options: dict[str, Any] | None) -> None:
        options = dict(options or {})
        reject_unknown("FamilyGrowthEnv reset options", options, ["instance", "hidden"])
        assert self.family is not None
        if options.get("instance") is not None:
            instance = Instance.parse(options["instance"])
        else:
            pool = self.family.instances
            instance = pool[int(self.np_random.integers(len(pool)))]
        if options.get("hidden") is not None:
            hidden = self.family.pin_hidden(options["hidden"])
        else:
            hidden = self.family.draw_hidden(self.np_random)
        self._use(instance, hidden)

    def _use(self, instance: Instance, hidden: dict[str, Any] | None = None) -> None:
        """Make ``instance`` (with these hidden values) the current one: task, data, config and
        reward follow it."""
        hidden = dict(hidden or {})
        task, kwargs, config = self._fitting(instance, hidden)
        switch_data = task is not self.task
        self.task, self.config, self.instance, self.hidden = task, config, instance, hidden
        self.reward_config = config.reward_config()
        self.init_kwargs = kwargs  # a plain GrowthEnv(task, **kwargs) replays the episode
        if switch_data:
            self.data = self._load_data()

    def _fitting(
        self, instance: Instance, hidden: dict[str, Any] | None = None
    ) -> tuple[TaskSpec, dict[str, Any], GrowthEnvConfig]:
        """The instance's task, kwargs and config, if its spaces are this env's; else raise."""
        task = get_task(instance.task)
        assert self.family is not None
        kwargs = {
            **self.family_kwargs,
            **dict(self.family.fixed),
            **instance.env_kwargs(),
            **(hidden or {}),
        }
        config = GrowthEnvConfig.from_kwargs(task, kwargs)
        slots, _ = self._host_size(instance)
        # What a plain GrowthEnv(task, **kwargs) of the instance grows: its replay must meet
        # the same action space as the episode did.
        grown = tuple(config.slots) if config.slots is not None else slots
        if grown != tuple(self.slots):
            raise InstanceError(
                f"instance {instance.name} grows slots {list(grown)}; this env grows "
                f"{list(self.slots)}: every instance of a family needs the same slots"
            )
        if config.blueprint_set(task) != self.codec.blueprints:
            raise InstanceError(
                f"instance {instance.name} grows blueprints {list(config.blueprint_set(task))}; "
                f"this env grows {list(self.codec.blueprints)}: give the family "
                'fixed=(("blueprints", (...)),) to use one set everywhere'
            )
        return task, kwargs, config

    def _host_size(self, instance: Instance) -> tuple[tuple[str, ...], int]:
        """The instance host's slots and parameter count (memoised: the host is only built)."""
        if instance not in self._host_sizes:
            with seeded_init(0):
                host = get_task(instance.task).make_host(instance.widths or None)
            count = sum(p.numel() for p in host.parameters())
            self._host_sizes[instance] = (tuple(host.injection_points()), count)
        return self._host_sizes[instance]

    def _context_view(self) -> ContextView:
        assert self.instance is not None
        _, params = self._host_size(self.instance)
        return ContextView(
            price=self.instance.param_rent / PRICE_SCALE,
            host_size=math.log10(params) / 5,
        )

    def _add_info(self, info: dict[str, Any]) -> dict[str, Any]:
        assert self.instance is not None
        info["instance"] = self.instance.name
        if self.hidden:
            info["hidden"] = dict(self.hidden)
        return info
