"""`ray job submit` against a local head, isolated in its own network and PID namespace.

The head runs inside ``unshare -n -p -f --mount-proc``: only loopback exists there, and when the
namespace's shell exits every process it started (the Ray head included) goes with it, so no
other Ray on this machine is touched and ``ray stop`` is never needed.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ray_job_submit_to_a_local_head(tmp_path, photo_writer):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for an isolated Ray head")
    for i in range(3):
        photo_writer(
            tmp_path / f"in/p{i}.jpg",
            seed=300 + i,
            width=640,
            height=600,
            f_number=2.0,
            focal_mm=50.0,
        )
    out = tmp_path / "out"
    bindir = Path(sys.executable).parent
    temp = f"/tmp/rj{uuid.uuid4().hex[:6]}"
    script = f"""
set -e
ip link set lo up
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 PATH={bindir}:$PATH
ray start --head --num-cpus 2 --node-ip-address 127.0.0.1 --temp-dir {temp} \\
    --dashboard-host 127.0.0.1 --dashboard-port 8265 --disable-usage-stats >/dev/null
RAY_ADDRESS=http://127.0.0.1:8265 ray job submit --working-dir . -- \\
    python curate/job.py --input {tmp_path / "in"} --out {out} --no-progress
"""
    try:
        p = subprocess.run(
            ["unshare", "-n", "-p", "-f", "--mount-proc", "bash", "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=400,
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "kept 3, rejected 0" in p.stdout and "succeeded" in p.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == 3 and stats["counts_ok"]
