"""Where an evaluation's episodes run: here, in a pool of worker processes, or as Ray tasks.

Each job is one episode (``play_episode``'s arguments). Each worker keeps its env and policy
between episodes (:data:`_WORKER_CACHE`). Whatever runs them, a finished episode lands in the
caller's ``rows`` at once, so an interruption (``KeyboardInterrupt``, raised as itself) or a
dead worker (:class:`WorkerDiedError`) keeps every episode that finished.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from kasmina.errors import UserError
from simic.common.envutil import make_env
from simic.common.errors import SimicError
from simic.common.raysupport import ray_session
from simic.common.signals import deferred_stops, ignore_stops, stops_blocked
from simic.evaluation.report import EvaluatedEpisode
from simic.policies import EpisodeResult, make_policy, run_episode

POLL_S = 0.25
"""How often the pool's waiter looks for Ctrl-C or SIGTERM (the delay they can take to act)."""

# One env and policy per worker, reused across its episodes. The key holds everything that
# defines an episode, so two evaluations in one process never share an env by mistake.
_WORKER_CACHE: dict[tuple[str, str, str, str, bool], tuple[Any, Any]] = {}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "policy"


def play_episode(
    env_id: str,
    env_kwargs: dict[str, Any],
    spec: str,
    seed: int,
    device: str,
    model_dir: str | None,
    transfer: bool = False,
    instance: str | None = None,
) -> EvaluatedEpisode:
    """One episode of ``spec`` on ``seed`` (and a family's ``instance``), in a worker or here."""
    key = (env_id, json.dumps(env_kwargs, sort_keys=True), spec, device, transfer)
    if key not in _WORKER_CACHE:
        env = make_env(env_id, env_kwargs)
        policy = make_policy(spec, env.unwrapped, device=device, transfer=transfer)
        _WORKER_CACHE[key] = (env, policy)
    env, policy = _WORKER_CACHE[key]
    options = None if instance is None else {"instance": instance}
    result = run_episode(env, policy, seed, options)
    return evaluated_episode(env.unwrapped, result, spec, model_dir)


def evaluated_episode(
    env: Any, result: EpisodeResult, spec: str, model_dir: str | None
) -> EvaluatedEpisode:
    """``result`` as a report row; with ``model_dir`` (``--save-model``), ``env``'s grown
    network (the unwrapped env, still holding the finished episode) is exported first."""
    if model_dir is None:
        return EvaluatedEpisode(result)
    from simic.evaluation.export import export_grown_model

    where = "" if result.instance is None else f"_{_slug(result.instance)}"
    path = Path(model_dir) / f"{_slug(spec)}{where}_seed{result.seed}.pt"
    metadata: dict[str, Any] = {"policy": spec, "seed": result.seed}
    if result.instance is not None:
        metadata["instance"] = result.instance
    export_grown_model(env, path, metadata=metadata)
    return EvaluatedEpisode(result, str(Path("models") / path.name))


def play_jobs(
    jobs: list[tuple[Any, ...]], workers: int, ray: str | None, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` (on Ray at address ``ray``, else in ``workers`` processes, here if 1),
    filling ``rows`` (job index -> episode) as episodes finish."""
    if ray is not None:
        _play_on_ray(jobs, ray, rows)
    elif workers == 1:
        for index, job in enumerate(jobs):
            rows[index] = play_episode(*job)
    else:
        _play_in_pool(jobs, workers, rows)


def _init_worker(parent: int) -> None:
    """Set up an evaluation worker: deaf to group signals, and gone soon after its parent.

    Ctrl-C and SIGTERM reach the whole process group; only the parent decides what they mean
    (it keeps the finished episodes, then kills the workers). A parent killed outright (the OOM
    killer, SIGKILL) cannot kill them, and the pool's queues do not tell them, so each worker
    watches its parent and exits when it is gone.
    """
    ignore_stops()
    threading.Thread(target=_exit_without, args=(parent, os.getppid()), daemon=True).start()


def _exit_without(parent: int, started_by: int) -> None:
    """Exit once ``parent`` (the evaluation) is gone.

    An exited parent that nobody has reaped yet still answers ``kill(pid, 0)``, so the worker
    also watches its own parent (the evaluation, or the forkserver that exits with it): a
    process whose parent exits is handed to another at once.
    """
    while True:
        time.sleep(1.0)
        if os.getppid() != started_by:
            os._exit(1)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, under another user (pid reused): keep going
            pass


class WorkerDiedError(Exception):
    """A worker process of the evaluation died (SIGKILL, the OOM killer) mid-episode."""


def _play_in_pool(
    jobs: list[tuple[Any, ...]], workers: int, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` in ``workers`` processes, filling ``rows`` as results arrive.

    A worker that dies breaks the pool (``BrokenProcessPool``) instead of leaving its episode
    pending forever, as ``multiprocessing.Pool`` would.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
    )
    # Signals wait for the poll below: raised inside the executor's code they could leave one
    # of its locks held, and the process would hang (seen under load, in a group SIGTERM).
    with deferred_stops() as stops:
        try:
            with stops_blocked():  # submit starts the workers: they start deaf to group signals
                pending = {pool.submit(play_episode, *job): i for i, job in enumerate(jobs)}
            waiting = set(pending)
            while waiting:
                done, waiting = wait(waiting, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    rows[pending[future]] = future.result()
                stops.raise_if_stopped()
        except BrokenProcessPool:
            raise WorkerDiedError from None
        finally:
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: an interrupted evaluation does not wait for running episodes."""
    processes = list((pool._processes or {}).values())  # no public handle on the workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()  # not terminate(): the workers ignore SIGTERM (see _init_worker)
    for process in processes:
        process.join(timeout=10)


def _play_on_ray(
    jobs: list[tuple[Any, ...]], address: str, rows: dict[int, EvaluatedEpisode]
) -> None:
    """Play ``jobs`` as Ray tasks (one CPU each), filling ``rows`` as results arrive.

    Each Ray worker keeps its env and policy between episodes (:data:`_WORKER_CACHE`), as a
    pool worker does. An error a user caused in a task (a model for another env, say) is
    raised here as itself, not wrapped in Ray's traceback.
    """
    with ray_session("simic evaluate --ray", address) as ray:
        play = ray.remote(num_cpus=1, max_retries=0)(play_episode)
        refs = [play.remote(*job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    rows[index[ref]] = ray.get(ref)
        except ray.exceptions.RayTaskError as failure:
            if isinstance(failure.cause, UserError | SimicError):
                raise failure.cause from None
            raise
        finally:
            for ref in pending:  # an interrupted evaluation does not wait for running episodes
                ray.cancel(ref, force=True)
