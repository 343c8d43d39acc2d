"""``simic quickstart``, the main job: the project's result first, then a smoke test.

1. **The committed result.** The learned controller that ships with the package
   (``pretrained:grow-family-v0``, run 1 of the learning proof; see
   ``simic/pretrained/README.md``) plays every instance of the task family
   ``simic/Grow-Family-v0`` against ``heuristic`` and ``schedule-best``. It uses the held-out
   seeds the proof used (5000..). It prints the family-average table and a reading computed
   from it: the learned controller's return minus each baseline's, paired by seed, with a 95%
   interval (``OUT/committed/``).
2. **A smoke test of the pipeline.** PPO from scratch for a few thousand steps on
   ``simic/Grow-MNIST1D-v0`` (``OUT``, resumed when it exists), then played against the
   baselines on seeds 1000.. (``OUT/evaluation/``). So few steps show that training runs; they
   do not make a trained controller.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kasmina.validation import require_int
from simic.common.errors import SimicError
from simic.common.options import doc
from simic.common.printing import Printer
from simic.common.runfolder import CONFIG_FILE, MODEL_FILE
from simic.common.stats import MeanCI, mean_ci
from simic.evaluation import EvaluateConfig, EvaluationReport, evaluate, family_average_by_seed
from simic.evaluation import format_table as format_policy_table
from simic.policies import POLICY_NAMES, EpisodeResult
from simic.pretrained import FAMILY_MODEL, PREFIX
from simic.training import load_run_config, train
from simic.training.config import TrainConfig

FAMILY_ENV = "simic/Grow-Family-v0"
LEARNED = f"{PREFIX}{FAMILY_MODEL}"
FAMILY_BASELINES = ("heuristic", "schedule-best")
FAMILY_SEED = 5000
"""The learning proof's first held-out seed: part 1 replays the episodes the proof measured."""
PROOF_SEEDS = 30
"""How many seeds per instance the learning proof played (for the reading's last words)."""
COMMITTED_DIR = "committed"
EVALUATION_DIR = "evaluation"


@dataclass(frozen=True)
class QuickstartConfig:
    """What ``simic quickstart`` runs: the committed model on the family, then a smoke test."""

    timesteps: int = field(default=6000, metadata=doc("training timesteps"))
    episodes: int = field(default=10, metadata=doc("evaluation episodes per policy"))
    n_envs: int = field(default=2, metadata=doc("parallel environments"))
    out: str = field(default="runs/quickstart", metadata=doc("run folder"))
    family_seeds: int = field(
        default=3,
        metadata=doc(
            f"held-out seeds per instance ({FAMILY_SEED}..) on which the committed model plays "
            f"the task family (the learning proof used {PROOF_SEEDS})"
        ),
    )
    skip_committed: bool = field(
        default=False,
        metadata=doc("skip part 1 (the committed model on the task family); only train"),
    )

    def __post_init__(self) -> None:
        require_int("family_seeds", self.family_seeds, 1, SimicError)


def quickstart(q: QuickstartConfig, out: Printer = print) -> int:
    """Both parts; the exit status (an interrupted part stops the quickstart there)."""
    if not q.skip_committed:
        status = play_committed(q, out)
        if status != 0:
            return status
    return smoke_test(q, out)


# ----------------------------------------------------------------------------------- part 1
def committed_config(q: QuickstartConfig) -> EvaluateConfig:
    """Part 1's evaluation: the shipped model and two baselines on every family instance."""
    return EvaluateConfig(
        env=FAMILY_ENV,
        policies=(LEARNED, *FAMILY_BASELINES),
        episodes=q.family_seeds,
        seed=FAMILY_SEED,
        n_envs=q.n_envs,
        out=str(Path(q.out) / COMMITTED_DIR),
    )


def play_committed(q: QuickstartConfig, out: Printer = print) -> int:
    """Part 1: print the family-average table and its reading; the evaluation's exit status."""
    out(
        f"== Part 1 of 2: the committed learned controller against the baselines on {FAMILY_ENV} =="
    )
    report = evaluate(committed_config(q), out, table=family_average_table)
    return report.exit_status


def family_average_table(report: EvaluationReport) -> str:
    """The family-average rows of every policy, then the reading of their differences."""
    width = max([24, *(len(p) for p in report.family_summaries)])  # names never cut
    title = (
        f"family average over the {len(report.instances)} instances "
        "(mean ± 95% interval over seeds):"
    )
    table = format_policy_table(report.family_summaries, width=width)
    return f"{title}\n{table}\n{reading(report)}"


def paired_difference(
    report: EvaluationReport,
    policy: str,
    baseline: str,
    metric: Callable[[EpisodeResult], float] = lambda r: r.return_,
) -> MeanCI | None:
    """``policy`` minus ``baseline`` on the family average, paired by seed (``None``: no seed).

    Only seeds that both played on every instance count (an interrupted run may lack some).
    """
    played = report.results()
    ours = family_average_by_seed(played[policy], report.instances, metric)
    theirs = family_average_by_seed(played[baseline], report.instances, metric)
    common = [seed for seed in ours if seed in theirs]
    return mean_ci([ours[s] - theirs[s] for s in common]) if common else None


def reading(report: EvaluationReport) -> str:
    """One sentence on the learned controller's return against each baseline, from the numbers."""
    diffs = {b: paired_difference(report, LEARNED, b) for b in FAMILY_BASELINES}
    found = {b: d for b, d in diffs.items() if d is not None}
    if not found:
        return "reading: no seed was played on every instance by every policy; nothing to compare"
    n = min(d.n for d in found.values())
    clauses = [
        _clause(baseline, diff, first=i == 0) for i, (baseline, diff) in enumerate(found.items())
    ]
    seeds = "1 held-out seed" if n == 1 else f"{n} held-out seeds"
    sentence = (
        f"reading: on {seeds} per instance, the learned controller's family-average return is "
        f"{' and '.join(clauses)}. The learning proof measured {PROOF_SEEDS} seeds per instance."
    )
    # A terminal's width, not one endless line; "schedule-best" stays whole.
    return textwrap.fill(sentence, width=100, break_on_hyphens=False)


def _clause(baseline: str, diff: MeanCI, first: bool) -> str:
    """``0.085 above that of heuristic (paired by seed, 95% CI +0.020 to +0.150)``, and so on."""
    side = "above" if diff.mean >= 0 else "below"
    head = f"{abs(diff.mean):.3f} {side} that of {baseline}"
    if math.isnan(diff.half_width):
        return f"{head} (one seed: no interval; give --family-seeds 2 or more)"
    interval = f"{'paired by seed, ' if first else ''}95% CI {diff.low:+.3f} to {diff.high:+.3f}"
    if diff.low <= 0 <= diff.high:
        return f"{head} ({interval}, which includes 0: no difference shown with {diff.n} seeds)"
    return f"{head} ({interval})"


# ----------------------------------------------------------------------------------- part 2
def smoke_test(q: QuickstartConfig, out: Printer = print) -> int:
    """Part 2: train PPO briefly (resuming ``q.out``), then play it against the baselines."""
    config, resume = _smoke_train_config(q)
    out(
        "== Part 2 of 2: a smoke test of the training pipeline, PPO from scratch on "
        f"{config.env} =="
    )
    out(
        f"({config.timesteps:,} steps show that training runs end to end; they are far too few "
        "to learn a controller)"
    )
    result = train(config, resume=resume, out=out)
    if result.interrupted:
        return result.exit_status
    run = Path(q.out)
    return evaluate(
        EvaluateConfig(
            env=config.env,
            env_kwargs=config.env_kwargs,
            policies=(str(run / MODEL_FILE), *POLICY_NAMES),
            episodes=q.episodes,
            seed=1000,
            n_envs=q.n_envs,
            out=str(run / EVALUATION_DIR),
        ),
        out,
    ).exit_status


def _smoke_train_config(q: QuickstartConfig) -> tuple[TrainConfig, bool]:
    """The training run of part 2, and whether it resumes the run in ``q.out``."""
    run = Path(q.out)
    config = TrainConfig(
        timesteps=q.timesteps, n_envs=q.n_envs, out=str(run), eval_every=0, checkpoint_every=1024
    )
    resume = (run / CONFIG_FILE).exists()
    if resume:
        config = dataclasses.replace(load_run_config(run), out=str(run), timesteps=q.timesteps)
    return config, resume
