"""Losing a worker node mid-run (slow): synth's Ray launcher on a multi-node Ray on this machine
(a head without CPUs, two 1-CPU worker nodes, one shard task each); once each shard has finished
a scene, a node is taken away while it renders the next. Every scene is rendered once, complete,
with the labels of an unbroken render."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from manifests import read_table, validate_path

REPO = Path(__file__).resolve().parents[2]
SCENES = 6


def render_cmd(out: Path, address: str) -> list[str]:
    """The smallest render that is still a real one (as tests/synth/test_ray.py): 2 shards."""
    return [
        sys.executable, "-m", "synth", "render", "--out", str(out), "--scenes", str(SCENES),
        "--resolution", "32", "--samples", "2", "--ray-address", address, "--shards", "2",
        "--threads", "1", "--quiet",
    ]  # fmt: skip


def rows(out: Path) -> list[dict]:
    return sorted(
        read_table(out, "synthetic_pairs").to_pylist(),
        key=lambda r: (r["scene_id"], r["render_id"]),
    )


def done_shards(out: Path) -> set[int]:
    """The shards (scene id % 2) with a finished scene."""
    # hidden temp folders (".tmp-...") hold DONE for an instant before their rename
    done = (out / "scenes").glob("*/DONE")
    return {int(d.parent.name) % 2 for d in done if not d.parent.name.startswith(".")}


def busy(cluster) -> list:
    """The worker nodes running a shard task now."""
    return [n for n in cluster.workers if "ray::shard_task" in cluster.processes(n).values()]


@pytest.mark.slow
def test_synth_ray_loses_a_node_and_renders_every_scene_once(local_cluster, tmp_path):
    cluster = local_cluster(worker_cpus=1)
    env = cluster.driver_env()
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    p = subprocess.run(
        render_cmd(whole, cluster.address),
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]

    job = subprocess.Popen(
        render_cmd(broken, cluster.address),
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (done_shards(broken) == {0, 1} and busy(cluster)):
            assert job.poll() is None, job.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the shards did not both finish a scene in 300 s"
            time.sleep(0.05)
        titles = cluster.crash(
            busy(cluster)[0], "shard_task"
        )  # it is rendering a scene of its shard
        stdout, stderr = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert titles == ["ray::shard_task"] and len(cluster.workers) == 1
    assert job.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert f"{SCENES} scene(s)" in stdout, stdout

    # the lost shard ran again on the survivor: scenes it had finished were kept, not redone
    shard_stats = [
        json.loads(p.read_text()) for p in sorted((broken / "stats").glob("shard-*.json"))
    ]
    assert [s["inputs"] for s in shard_stats] == [SCENES // 2] * 2
    assert sum(s["skipped_done"] for s in shard_stats) >= 1, shard_stats
    assert sum(s["rendered_now"] for s in shard_stats) <= SCENES - 1

    # every scene once, complete; no half-written scene folder left behind
    stats = json.loads((broken / "stats.json").read_text())
    assert stats["inputs"] == stats["kept"] == SCENES and stats["rejected"] == 0
    assert not list((broken / "scenes").glob(".tmp-*"))
    assert sorted(p.parent.name for p in (broken / "scenes").glob("*/DONE")) == [
        f"{i:06d}" for i in range(SCENES)
    ]
    got, want = rows(broken), rows(whole)
    assert [(r["scene_id"], r["render_id"]) for r in got] == [
        (r["scene_id"], r["render_id"]) for r in want
    ]
    assert len({(r["scene_id"], r["render_id"]) for r in got}) == len(got)
    assert got == want  # labels (K, focus, aperture, camera), paths and spec hashes
    for r in got:  # and the label files: planar depth and signed CoC maps
        for key in ("depth_path", "coc_path"):
            a, b = np.load(broken / r[key]), np.load(whole / r[key])
            assert np.array_equal(a, b), (r[key], float(np.nanmax(np.abs(a - b))))
    report = validate_path(broken)
    assert report.ok, [str(x) for x in report.problems]
