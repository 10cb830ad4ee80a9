"""``python -m train {fit,refocus,benchmark} ...`` (see ``--help``)."""

from train.cli import main

raise SystemExit(main())
