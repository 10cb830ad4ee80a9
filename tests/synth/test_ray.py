"""``--ray``: one Ray task per shard on a local Ray bound to 127.0.0.1 (slow: starts Ray)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from manifests import read_table, validate_path


@pytest.mark.slow
def test_ray_renders_one_task_per_shard(tmp_path):
    out = tmp_path / "out"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are limited
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    try:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "synth",
                "render",
                "--out",
                str(out),
                "--scenes",
                "3",
                "--resolution",
                "32",
                "--samples",
                "2",
                "--ray",
                "--shards",
                "2",
                "--threads",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    assert "3 scene(s) rendered now" in p.stdout
    parts = sorted(x.name for x in (out / "synthetic_pairs").iterdir())
    assert parts == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    assert read_table(out, "synthetic_pairs").num_rows == 9
    stats = json.loads((out / "stats.json").read_text())
    assert stats["shards"] == 2 and stats["inputs"] == stats["kept"] == 3
    assert validate_path(out).ok
