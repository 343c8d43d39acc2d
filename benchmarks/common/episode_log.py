"""Episodes played for a benchmark, kept one JSON line each as they finish, so a run resumes.

The one owner of the log the tuning run (``tune_baselines``) and the control-value run
(``control_value``) keep: :func:`read_log` gives back what was played (a line cut by an
interruption is skipped: that episode is played again), :func:`play_logged` plays the rest on
worker processes and appends each row as it arrives (an interruption loses at most the
episodes in flight).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

Row = dict[str, Any]
"""One episode's line: ``{"key": ..., <values>}``."""


def read_log(path: Path) -> dict[str, Row]:
    """Every complete row of the log at ``path``, by key (empty if there is none yet)."""
    rows: dict[str, Row] = {}
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            rows[row["key"]] = row
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by an interruption: that episode is played again
    return rows


def play_logged(
    play: Callable[[Any], Row], todo: Sequence[Any], workers: int, path: Path
) -> Iterator[Row]:
    """``play(job)`` for every job of ``todo`` (``workers`` processes; 1 plays here), each
    row appended to ``path`` and yielded as it finishes, in finishing order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with path.open("a") as log, _pool(workers) as pool:
        rows = map(play, todo) if pool is None else pool.imap_unordered(play, todo, chunksize=4)
        for i, row in enumerate(rows):
            log.write(json.dumps(row) + "\n")
            log.flush()
            yield row
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{len(todo)} in {time.perf_counter() - started:.0f} s", flush=True)


@contextmanager
def _pool(workers: int) -> Iterator[Pool | None]:
    """A worker pool (``None`` for one worker), closed and joined once every job is done.

    Not ``Pool.__exit__``, which terminates the pool even after a clean finish: that hung the
    test suite (gdb: ``Pool._terminate_pool`` joining, for ever, a worker that was blocked on
    the task queue's lock and forked a minute after the pool). A closed pool's workers leave
    on their own. After an interruption or an error they are killed.
    """
    if workers <= 1:
        yield None
        return
    pool = multiprocessing.get_context("forkserver").Pool(workers)
    try:
        yield pool
        pool.close()
    except BaseException:
        for process in pool._pool:  # type: ignore[attr-defined]  # no public handle on them
            process.kill()
        pool.terminate()
        raise
    finally:
        pool.join()
