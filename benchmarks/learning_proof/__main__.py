"""``python -m benchmarks.learning_proof``: see :mod:`benchmarks.learning_proof`."""

from benchmarks.learning_proof.cli import main

raise SystemExit(main())
