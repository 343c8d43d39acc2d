"""Exporting an episode's grown network, and loading it back so it reproduces its test accuracy.

:func:`export_grown_model` writes one file, atomically: the task, the environment's keyword
arguments, the slots, :meth:`~kasmina.MorphogeneticModel.describe_seeds`, the ``state_dict``,
the parameter counts, the test accuracy measured at export and the caller's metadata.
:func:`load_grown_model` rebuilds the same architecture from the task's host and the seed
description, then loads the weights; :func:`evaluate_grown_model` measures it on the task's test
split exactly as the environment does::

    path = export_grown_model(env, "grown.pt", metadata={"policy": "heuristic", "seed": 0})
    grown = load_grown_model(path)
    assert evaluate_grown_model(grown) == grown.test_accuracy  # on the same machine and torch

The file holds only tensors and JSON-like values, so it is read with
``torch.load(weights_only=True)``: loading a file never runs code from it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import envs
from envs.atomic import atomic_write_bytes
from envs.config import GrowthEnvConfig
from envs.evaluation import evaluate_split
from envs.growth_env import GrowthEnv
from envs.tasks import get_task
from kasmina import MorphogeneticModel, ParamCounts, seeded_init
from kasmina.errors import KasminaError, UserError
from kasmina.threads import torch_threads
from simic.common.envutil import import_task_module

FORMAT = "simic-grown-model"
FORMAT_VERSION = 1
_KEYS = (
    "task",
    "kwargs",
    "chunk_size",
    "slots",
    "seeds",
    "state_dict",
    "param_counts",
    "test_accuracy",
    "metadata",
)


class ExportError(UserError, ValueError):
    """A grown model that cannot be exported, or a file that is not a readable grown model."""


class GrownModelNotFoundError(UserError, FileNotFoundError):
    """No file where a grown model was expected."""


@dataclass(frozen=True)
class GrownModel:
    """A grown network loaded from an export, ready for inference.

    Attributes:
        model: The rebuilt network, in eval mode, on the device it was loaded to.
        task: The task it was grown on (a key of ``envs.TASKS``).
        kwargs: The environment's keyword arguments (as JSON values: tuples became lists).
        test_accuracy: The test accuracy measured when it was exported.
        chunk_size: The evaluation chunk size (``val_batch_size``) that measured it.
        metadata: What the exporter added (policy name, episode seed, ...).
        param_counts: Host, fossilized-seed and live-seed parameters.
    """

    model: MorphogeneticModel
    task: str
    kwargs: dict[str, Any]
    test_accuracy: float
    chunk_size: int
    metadata: dict[str, Any]
    param_counts: ParamCounts


def _as_json(what: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as plain JSON values; one that is not JSON-serialisable raises, named."""
    if not isinstance(values, Mapping):
        raise ExportError(f"{what} must be a mapping, got {values!r}")
    for key, value in values.items():
        if not isinstance(key, str):
            raise ExportError(f"{what} keys must be strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise ExportError(
                f"{what} {key}={value!r} is not JSON-serialisable ({exc}); an export stores only "
                "JSON values (a callable reward or memory probe cannot be exported)"
            ) from None
    return json.loads(json.dumps(dict(values), allow_nan=True))


def _growth_env(env: gym.Env) -> GrowthEnv:
    base = env.unwrapped if isinstance(env, gym.Env) else env
    if not isinstance(base, GrowthEnv):
        raise ExportError(
            f"export_grown_model needs a GrowthEnv or a wrapper of one, got {type(env).__name__}"
        )
    if base.model is None:
        raise ExportError("the environment has no model yet: call reset() (and play) first")
    return base


def export_grown_model(
    env: gym.Env, path: str | Path, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``env``'s current network to ``path`` (one file, atomically); returns the path.

    Args:
        env: A :class:`~envs.GrowthEnv` (or a wrapper of one) after ``reset``; exporting right
            after the final step records the same test accuracy as ``info["test_accuracy"]``.
        path: Where to write (parent folders are created).
        metadata: JSON values to keep with the model (policy name, episode seed, ...).

    The environment is not changed: its model, training flag and random generators are as
    before. Raises :class:`ExportError` if the environment's keyword arguments or the metadata
    are not JSON-serialisable, or a seed was germinated with a non-JSON keyword.
    """
    base = _growth_env(env)
    model, config = base.model, base.config
    assert model is not None  # _growth_env checked
    kwargs = _as_json("environment keyword argument", base.init_kwargs)
    extra = _as_json("metadata", metadata or {})
    try:
        seeds = model.describe_seeds()
    except KasminaError as exc:
        raise ExportError(f"cannot describe the grown model: {exc}") from None
    with torch_threads(config.torch_threads):
        _, test_accuracy = evaluate_split(model, base.data.test, config.val_batch_size)
    counts = model.param_counts()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),  # TorchVersion is not a plain str
        "task": base.task.name,
        # A user task is known once the module that registers it is imported (optional key:
        # files of the built-in tasks, older ones included, have none).
        "task_module": base.task.module,
        "kwargs": kwargs,
        "chunk_size": config.val_batch_size,
        "slots": list(model.slots),
        "seeds": seeds,
        "state_dict": model.state_dict(),
        "param_counts": {"host": counts.host, "fossilized": counts.fossilized, "live": counts.live},
        "test_accuracy": test_accuracy,
        "metadata": extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _read(path: str | Path) -> dict[str, Any]:
    """The payload of the export at ``path``, checked to be one this version can read."""
    target = Path(path)
    if not target.is_file():
        raise GrownModelNotFoundError(f"no grown-model file at {target}")
    try:
        payload = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for damaged or foreign bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(
            f"{target} is not a readable grown-model file ({type(exc).__name__}: {first})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ExportError(f"{target} is not a grown-model file (no {FORMAT!r} marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ExportError(
            f"{target} has grown-model format version {version!r}; "
            f"this simic reads version {FORMAT_VERSION}"
        )
    missing = [k for k in _KEYS if k not in payload]
    if missing:
        raise ExportError(f"{target} is a damaged grown-model file: it lacks {missing}")
    return payload


def _rebuild(payload: dict[str, Any], config: GrowthEnvConfig) -> MorphogeneticModel:
    task = get_task(payload["task"])
    with seeded_init(0):  # a fixed start: every weight is overwritten by the state_dict
        host = task.make_host(config.host_widths)
    host.to(torch.device(config.device))
    model = MorphogeneticModel(
        host,
        slots=list(payload["slots"]),
        lifecycle=config.lifecycle(),
        host_optimizer=config.optimizer_spec(config.host_lr),
        seed_optimizer=config.optimizer_spec(config.seed_lr),
    )
    model.restore_seeds(payload["seeds"])
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.eval()


def load_grown_model(path: str | Path, *, device: str | torch.device = "cpu") -> GrownModel:
    """Rebuild the network exported to ``path`` on ``device``, in eval mode.

    Raises:
        GrownModelNotFoundError: nothing at ``path``.
        ExportError: the file is damaged, not a grown-model export, of another format
            version, or does not fit the architecture it describes.
    """
    payload = _read(path)
    if payload.get("task_module") and payload["task"] not in envs.TASKS:
        import_task_module(payload["task_module"], f"task {payload['task']!r} of {path}")
    try:
        kwargs = dict(payload["kwargs"])
        config = GrowthEnvConfig.from_kwargs(payload["task"], {**kwargs, "device": str(device)})
        model = _rebuild(payload, config)
        counts = ParamCounts(**payload["param_counts"])
        grown = GrownModel(
            model,
            payload["task"],
            kwargs,
            float(payload["test_accuracy"]),
            int(payload["chunk_size"]),
            dict(payload["metadata"]),
            counts,
        )
    except (KasminaError, RuntimeError, TypeError, ValueError) as exc:
        raise ExportError(f"{path}: cannot rebuild the grown model: {exc}") from exc
    if model.param_counts() != counts:
        raise ExportError(
            f"{path}: the rebuilt model has {model.param_counts()} parameters, "
            f"the file recorded {counts}"
        )
    return grown


def evaluate_grown_model(grown: GrownModel, data_dir: str | None = None) -> float:
    """Test accuracy of ``grown`` on its task's test split, measured as the environment does.

    The split is loaded by a :class:`~envs.GrowthEnv` built from the recorded keyword arguments
    (so transformer tasks get their token layout) on the model's device, and evaluated in the
    recorded chunk size. ``data_dir`` overrides the recorded one (e.g. CIFAR-10 elsewhere).
    """
    kwargs = {**grown.kwargs, "device": str(grown.model.device)}
    if data_dir is not None:
        kwargs["data_dir"] = data_dir
    env = GrowthEnv(grown.task, **kwargs)
    with torch_threads(env.config.torch_threads):
        return evaluate_split(grown.model, env.data.test, grown.chunk_size)[1]
