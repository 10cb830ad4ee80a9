"""Run ``python -m train fit`` under ``torchrun`` with N processes on this machine (loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(fit_args: list[str], num_workers: int) -> int:
    """Re-run the same ``fit`` arguments as ``torchrun`` ranks (``--launcher worker``); each
    rank chooses its compute threads with ``LOCAL_WORLD_SIZE = num_workers``."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={num_workers}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        "-m",
        "train",
        "fit",
        *fit_args,
        "--launcher",
        "worker",
    ]
    # the ranks set torch's thread count themselves (train.threads); unset, torchrun would set
    # OMP_NUM_THREADS=1 for them anyway, with a banner suggesting the user tune it
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "").strip() or "1"
    return subprocess.call(cmd, env=env)
