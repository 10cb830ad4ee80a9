"""``python -m synth render|report ...`` (see ``--help``)."""

from synth.cli import main

raise SystemExit(main())
