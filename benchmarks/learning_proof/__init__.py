"""The learning proof: PPO against every baseline on a task family, with paired 95% intervals.

One command, resumable at every stage (rerun it after an interruption):

1. **train** ``--runs`` PPO runs (training seeds 1..R) with the recipe ``--config`` on the
   training family, each with ``simic train`` into ``benchmarks/results/proof_runs/run<k>/`` (a
   run that exists is resumed; a finished one is kept). Its wall time, summed over sessions, is
   kept in ``run<k>/proof_wall.json``; the model is copied to ``benchmarks/results/models/``
   beside the recipe that made it;
2. **evaluate** every run and every baseline, one ``simic evaluate`` per policy and family, on
   ``--episodes`` held-out episode seeds per instance (seeds ``--seed`` .., below 10**9:
   disjoint from training and tuning seeds), on the training family and on the held-out family,
   into ``benchmarks/results/proof_eval/<family>/<policy>/`` (an evaluation whose results exist
   is kept; a partial one is played again);
3. **report** paired differences PPO - baseline per instance and for the family average (the
   mean over instances), per run and pooled over runs, as mean and 95% t-interval over the
   paired per-seed differences; test accuracy the same way. Written to
   ``benchmarks/results/learning_proof.json`` and ``.md``, the figure
   ``learning_proof_<family>.png`` (per-instance return and test accuracy of every policy,
   with intervals) and the README's headline table (between its ``learning-proof`` markers).
   The report ends with every recipe tried so far: each earlier attempt's report is archived
   in ``benchmarks/results/attempts/<name>/`` (its ``learning_proof.json`` and the
   ``models/family_recipe.yaml`` that made it), one row per attempt.

Up to ``--parallel`` jobs (trainings and evaluations) run at once, each in its own process on
one core (:mod:`benchmarks.common.jobs`); evaluations of a run wait for its training. A job that
fails is reported and the others still run. Ctrl-C or SIGTERM stops every job, keeping what
finished. ``--report-only`` redraws the report, figures and README table from the evaluations
on disk.

============== ================================================================================
module         its one job
============== ================================================================================
``layout``     where everything lives (results, runs, evaluations, models) and what is compared
``jobs``       the proof's jobs: one training per run, one evaluation per policy and family
``statistics`` the numbers: episodes read back, paired differences and means with intervals
               (computed by :mod:`simic.common.stats`)
``report``     the results file, the markdown report, the figures and the README's table
``cli``        the command line: run the jobs, then report
============== ================================================================================

The per-instance baselines (``schedule-best``, ``heuristic-tuned``) read the tables that
``python -m benchmarks.tune_baselines`` made on training seeds.

Usage::

    python -m benchmarks.learning_proof [--runs 3] [--episodes 30] [--parallel 2]
"""
