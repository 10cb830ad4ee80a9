"""Run ``python -m train fit`` under ``torchrun`` with N processes on this machine (loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(fit_args: list[str], num_workers: int) -> int:
    """Re-run the same ``fit`` arguments as ``torchrun`` ranks (``--launcher worker``)."""
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
    return subprocess.call(cmd)
