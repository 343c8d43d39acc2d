"""``python -m simic ...``: the same command line as the ``simic`` console script."""

from simic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
