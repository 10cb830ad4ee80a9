"""Lens calculator: ``python -m optics {coc,k-exif,k-synthetic} ...`` (see ``--help``)."""

from optics.cli import main

raise SystemExit(main())
