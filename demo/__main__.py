"""``python -m demo [--out runs/demo] [--photos DIR] [--fresh] [--small]`` (see ``--help``)."""

from demo.pipeline import main

raise SystemExit(main())
