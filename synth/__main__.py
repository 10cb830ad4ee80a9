"""``python -m synth render ...`` (see ``--help``)."""

from synth.cli import main

raise SystemExit(main())
