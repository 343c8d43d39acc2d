"""The headline measurement: does the learned controller beat the heuristic and the static host?

Trains MaskablePPO with several training seeds (each its own run folder, resumed if present),
evaluates every trained model and the baselines on the same held-out episode seeds, and prints:

* per policy: mean final test accuracy and mean return with 95% confidence intervals, where the
  PPO row pools all training seeds (one value per training seed and episode seed);
* across training seeds: the mean of each trained model (so the spread between PPO runs shows);
* paired differences PPO - heuristic and PPO - nogrow (same episode seeds).

Usage::

    python -m benchmarks.ppo_vs_baselines --timesteps 20000 --train-seeds 0 1 2 \\
        --episodes 10 --out runs/headline
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from simic.common.runfolder import MODEL_FILE
from simic.common.stats import mean_ci
from simic.evaluation import EvaluateConfig, evaluate
from simic.policies import EpisodeResult
from simic.training import TrainConfig, load_run_config, train

BASELINES = ("heuristic", "nogrow", "growall")


def train_all(args: argparse.Namespace) -> list[Path]:
    models = []
    for seed in args.train_seeds:
        run = Path(args.out) / f"ppo_seed{seed}"
        resume = (run / "config.json").exists()
        config = (
            load_run_config(run)
            if resume
            else TrainConfig(
                env=args.env,
                timesteps=args.timesteps,
                n_envs=args.n_envs,
                seed=seed,
                out=str(run),
                eval_every=0,
                progress_bar=False,
            )
        )
        if resume:
            config = TrainConfig.from_mapping({**config.to_dict(), "timesteps": args.timesteps})
        train(config, resume=resume)
        models.append(run / MODEL_FILE)
    return models


def paired(a: list[EpisodeResult], b: list[EpisodeResult], key: str) -> str:
    """Mean ± CI of a - b, each episode of ``a`` against ``b``'s episode with the same seed."""
    by_seed = {e.seed: getattr(e, key) for e in b}
    return mean_ci([getattr(e, key) - by_seed[e.seed] for e in a]).format(
        100 if key == "test_accuracy" else 1, 1 if key == "test_accuracy" else 3
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="simic/Grow-MNIST1D-v0")
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--n-envs", type=int, default=2)
    parser.add_argument("--out", default="runs/headline")
    args = parser.parse_args(argv)
    models = train_all(args)
    report = evaluate(
        EvaluateConfig(
            env=args.env,
            policies=(*map(str, models), *BASELINES),
            episodes=args.episodes,
            seed=args.eval_seed,
            n_envs=args.n_envs,
            out=str(Path(args.out) / "evaluation"),
        ),
        out=lambda line: None,
    )
    results = report.results()
    ppo = [ep for m in models for ep in results[str(m)]]
    rows = {"ppo (all training seeds)": ppo, **{b: results[b] for b in BASELINES}}
    print(
        f"{args.env}: PPO {args.timesteps} timesteps x training seeds {args.train_seeds}; "
        f"held-out episodes {args.eval_seed}..{args.eval_seed + args.episodes - 1}"
    )
    for name, eps in rows.items():
        acc = mean_ci([e.test_accuracy for e in eps]).format(100, 1)
        ret = mean_ci([e.return_ for e in eps]).format(1, 3)
        print(f"  {name:26} test accuracy {acc:>12} %   return {ret:>15}")
    for m in models:
        eps = results[str(m)]
        print(
            f"  {m.parent.name:26} mean test accuracy "
            f"{100 * statistics.fmean(e.test_accuracy for e in eps):.1f} %, mean return "
            f"{statistics.fmean(e.return_ for e in eps):.3f}"
        )
    for base in ("heuristic", "nogrow"):
        accuracy = paired(ppo, results[base], "test_accuracy")
        returns = paired(ppo, results[base], "return_")
        print(
            f"  ppo - {base:9}: test accuracy {accuracy} points, return {returns} "
            "(paired by episode seed)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
