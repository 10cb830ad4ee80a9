"""``python -m train {fit,refocus} ...`` (see ``--help``)."""

from train.cli import main

raise SystemExit(main())
