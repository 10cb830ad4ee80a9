"""``python -m manifests {validate,show,stats,example} PATH`` (see ``--help``)."""

from manifests.cli import main

raise SystemExit(main())
