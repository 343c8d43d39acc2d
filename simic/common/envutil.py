"""Environment ids, keyword arguments and config files, as the command line receives them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

import envs
from kasmina.errors import UnknownChoiceError
from simic.common.errors import SimicError  # also still importable from here, where it used to live


def simic_env_ids() -> list[str]:
    """Registered growth environment ids: ``simic/...`` and every task's and family's
    (user tasks registered under another namespace included)."""
    ours = {t.env_id for t in envs.TASKS.values()} | set(envs.FAMILIES)
    return sorted({e for e in gym.registry if e.startswith("simic/")} | ours)


def resolve_env_id(env_id: str) -> str:
    """``env_id`` if registered, else an error listing the ids and suggesting the closest.

    ``"module:simic/Grow-Mine-v0"`` (a user task, :func:`envs.register_task`) imports
    ``module`` first, as ``gymnasium.make`` does; the id is returned as given, so that every
    process it is handed to (subprocess envs, evaluation pools, Ray workers) imports it too.
    """
    module, _, bare = env_id.rpartition(":")
    if module:
        import_task_module(module, env_id)
    if bare not in gym.registry:
        raise UnknownChoiceError("environment id", bare, simic_env_ids())
    return env_id


def bare_env_id(env_id: str) -> str:
    """``env_id`` without a ``module:`` prefix (the key of :data:`envs.FAMILIES`)."""
    return env_id.rpartition(":")[2]


def import_task_module(module: str, what: str) -> None:
    """Import the user module that registers ``what`` (an id or a task), or one line why not."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise SimicError(
            f"{what}: cannot import module {module!r} ({exc}); is it on PYTHONPATH "
            "(or in the working directory)?"
        ) from None


def parse_value(text: str) -> Any:
    """A command-line value as YAML (numbers, booleans, lists, null); plain text otherwise."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_kwargs(items: Iterable[str]) -> dict[str, Any]:
    """``["budget=10", "blueprints=[conv_light, attention]"]`` -> a dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SimicError(
                f"environment keyword argument {item!r} is not key=value (e.g. budget=10)"
            )
        out[key.strip()] = parse_value(value)
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML mapping from ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimicError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SimicError(
            f"config file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8 "
            "JSON or YAML"
        ) from None
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SimicError(f"config file {file} is not valid JSON/YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise SimicError(f"config file {file} must hold a mapping, got {type(data).__name__}")
    return dict(data)


def make_env(env_id: str, kwargs: Mapping[str, Any]) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` (kwargs errors come from the environment itself)."""
    return gym.make(resolve_env_id(env_id), **dict(kwargs))


def check_env_kwargs(env_id: str, kwargs: Mapping[str, Any]) -> envs.GrowthEnv:
    """Build the environment once, so bad kwargs fail before any file is written."""
    env = make_env(env_id, kwargs)
    base = env.unwrapped
    if not isinstance(base, envs.GrowthEnv):
        raise SimicError(f"{env_id} is not a growth environment")
    return base
