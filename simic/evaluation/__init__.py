"""Evaluation: policies x episode seeds -> a report, its files and figures.

==================== ==========================================================================
module               its one job
==================== ==========================================================================
``evaluation.report``   the report types (:class:`EvaluationReport`, ...) and their tables
``evaluation.config``   :class:`EvaluateConfig`: what an evaluation runs, checked
``evaluation.runner``   :func:`evaluate`: checks the policies, plays, reports, writes
``evaluation.workers``  where episodes run: here, a process pool, or Ray tasks
``evaluation.files``    ``results.json`` and ``episodes.csv`` (schema, atomic writes)
``evaluation.figures``  the figures of a report (and of a sweep)
``evaluation.export``   a grown network -> one file (architecture + weights), and back
==================== ==========================================================================

May import ``simic.common``, ``simic.policies`` and ``simic.pretrained``; never training.
"""

from __future__ import annotations

from simic.evaluation.config import EvaluateConfig, family_instances
from simic.evaluation.files import (
    CSV_COLUMNS,
    OUTPUT_FILES,
    SCHEMA_VERSION,
    episode_record,
    write_outputs,
)
from simic.evaluation.report import (
    EvaluatedEpisode,
    EvaluationReport,
    PolicySummary,
    family_average_by_seed,
    family_summary,
    format_family_table,
    format_report,
    format_table,
    summarize,
)
from simic.evaluation.runner import WORKER_DIED, evaluate

__all__ = [
    "CSV_COLUMNS",
    "OUTPUT_FILES",
    "SCHEMA_VERSION",
    "WORKER_DIED",
    "EvaluateConfig",
    "EvaluatedEpisode",
    "EvaluationReport",
    "PolicySummary",
    "episode_record",
    "evaluate",
    "family_average_by_seed",
    "family_instances",
    "family_summary",
    "format_family_table",
    "format_report",
    "format_table",
    "summarize",
    "write_outputs",
]
