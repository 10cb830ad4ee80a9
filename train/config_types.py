"""The train configs' bounds, and the number types built from them on ``infra.numbers``: a bad
value is a one-line config error (``infra.config_file``), not a crash or a misbehaviour later.

Every number has a lower and an upper bound (reliability round 2, item 9): a value far outside
what a run can use (``optim.batch_size = 100000000``, ``data_workers = 100000``) is refused when
the config loads, not an out-of-memory crash, a fork bomb or a run that never ends. The bounds
are generous: well above what the checked-in configs and the FLUX release use (docs/train.md).
Floats are finite everywhere (TOML allows ``nan`` and ``inf``); seeds fit NumPy and torch.
"""

from __future__ import annotations

from infra.numbers import Int, Real

# Upper bounds shared by several keys and by the CLI flags (train/cli.py).
MAX_STEPS = 10_000_000  # optimiser steps (the FLUX configs: 40,000)
MAX_INTERVAL = 1_000_000_000  # eval / checkpoint every N steps; above optim.steps: never (bench)
MAX_EULER_STEPS = 1000  # Euler steps of sampling (the release: 28)
MAX_K = 1000.0  # blur strength K, px per 1/m (the eval sweeps stop at 160)
MAX_BATCH = 4096  # samples per batch, per worker
MAX_SIDE_PX = 4096  # square training / evaluation crops (the release trains at 512-1024)
MAX_WORK_SIDE_PX = 8192  # short side of a prepared real photo
MAX_DATA_WORKERS = 256  # DataLoader worker processes (each one a process and a core)


Positive = Int(1, MAX_STEPS)  # counts of steps, batches, images; 0 not allowed
NonNegative = Int(0, MAX_STEPS)  # the same with 0 (usually: off, or automatic)
Finite = Real(-1e6, 1e6)
FiniteNonNegative = Real(0.0, 1e6)
FinitePositive = Real(0.0, 1e6, above=True)
