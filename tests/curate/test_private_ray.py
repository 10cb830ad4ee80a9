"""A local run starts its own Ray: a dead cluster's address file is never joined."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stale_ray_tmp():
    """A Ray temp root (short: Ray's socket paths must fit 107 bytes) whose address file names
    a cluster that is gone, as a killed ``ray start`` leaves it."""
    root = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))
    (root / "ray").mkdir()
    (root / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_curate_without_an_address_ignores_a_dead_clusters_address_file(
    stale_ray_tmp, camera_exif_dir, tmp_path
):
    photos = tmp_path / "in"
    photos.mkdir()
    for f in sorted(Path(camera_exif_dir).glob("*.jpg"))[:2]:
        shutil.copy(f, photos / f.name)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=str(stale_ray_tmp), TMPDIR=str(stale_ray_tmp))
    cmd = [sys.executable, str(REPO / "curate" / "job.py"), "--input", str(photos)]
    cmd += ["--out", str(tmp_path / "out"), "--num-cpus", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "out" / "stats.json").is_file()
