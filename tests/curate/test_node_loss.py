"""Losing a worker node mid-run (slow): on a multi-node Ray on this machine (a head without CPUs,
two worker nodes), the node holding the CLIP actor is taken away while it scores a shard and runs
a pass task; the job still writes exactly the rows of an unbroken run."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifests import read_table

REPO = Path(__file__).resolve().parents[2]


def write_inputs(root: Path, photo_writer) -> int:
    """Kept photos, near copies of three of them, and pass-1 / pass-2 rejects; returns the count."""
    for i in range(18):
        photo_writer(
            root / f"keep/k{i:02d}.jpg",
            seed=i,
            width=1024,
            height=768,
            f_number=1.4 + 0.2 * i,
            focal_mm=85.0,
            f35=85,
        )
    for i in range(3):  # of each pair one is kept, the other is a `duplicate`
        photo_writer(
            root / f"dup/d{i}.jpg",
            seed=i,
            width=900,
            height=675,
            quality=70,
            f_number=1.8,
            focal_mm=85.0,
            f35=85,
        )
    photo_writer(root / "bad/slow.jpg", seed=30, width=800, height=600, f_number=11.0, focal_mm=50)
    photo_writer(root / "bad/small.jpg", seed=31, width=300, height=200, f_number=2.0, focal_mm=50)
    photo_writer(root / "bad/no_exif.jpg", seed=32, width=800, height=600, make=False)
    (root / "bad/text.jpg").write_text("not an image")
    return 18 + 3 + 4


def job_cmd(photos: Path, out: Path, clip: dict) -> list[str]:
    """``curate/job.py`` joining the cluster (``RAY_ADDRESS``), 1 file a shard, tiny CLIP."""
    return [
        sys.executable,
        str(REPO / "curate" / "job.py"),
        "--input",
        str(photos),
        "--out",
        str(out),
        "--no-progress",
        "--set",
        "listing.shard_size=1",
        "--set",
        f"clip.model={clip['model']}",
        "--set",
        f"clip.model_config={clip['model_config']}",
        "--set",
        f"clip.checkpoint={clip['checkpoint']}",
    ]


def rows(out: Path, kind: str) -> list[dict]:
    return sorted(read_table(out, kind).to_pylist(), key=lambda r: r["uri"])


@pytest.mark.slow
def test_curate_loses_the_clip_node_and_writes_the_rows_of_an_unbroken_run(
    local_cluster, photo_writer, tiny_clip, tmp_path
):
    photos = tmp_path / "photos"
    n_inputs = write_inputs(photos, photo_writer)
    # 2 CPUs a worker node: the CLIP actor takes one, pass tasks the other (and the survivor's
    # two host the restarted actor beside the tasks)
    cluster = local_cluster(worker_cpus=2)
    env = cluster.driver_env()
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    p = subprocess.run(
        job_cmd(photos, whole, tiny_clip), env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]

    job = subprocess.Popen(
        job_cmd(photos, broken, tiny_clip),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:  # the CLIP actor's node (it holds the actor from the job's start)
            assert job.poll() is None, job.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no CLIP actor started in 300 s"
            clip_node = next(
                (
                    n
                    for n in cluster.workers
                    if any(t.startswith("ray::ClipActor") for t in cluster.processes(n).values())
                ),
                None,
            )
            if clip_node is not None:
                break
            time.sleep(0.05)
        # taken away while it runs the passes of one shard and scores another (a pass task first:
        # with the actor's only call frozen, the shards in flight would wait for it and no pass
        # task would start; the actor scores other shards while one pass task is frozen)
        titles = cluster.crash(clip_node, "pass", "ClipActor.score", timeout=300, in_order=True)
        stdout, stderr = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert titles[0] in ("ray::pass1_task", "ray::pass2_task")
    assert titles[1].startswith("ray::ClipActor.score")
    assert len(cluster.workers) == 1
    assert job.returncode == 0, stderr[-3000:]

    stats = [json.loads((out / "stats.json").read_text()) for out in (whole, broken)]
    for s in stats:
        assert s["counts_ok"] and s["inputs"] == n_inputs == s["kept"] + s["rejected"]
        assert s["clip"]["enabled"] and s["shards"] == n_inputs
    assert stats[1]["reasons"] == stats[0]["reasons"]
    assert {"duplicate", "f_number_too_high", "too_small", "no_exif"} <= set(stats[0]["reasons"])
    # the same rows, CLIP scores and embeddings included (the restarted actor scores alike)
    kept, rejects = rows(broken, "real_photos"), rows(broken, "rejects")
    assert kept == rows(whole, "real_photos") and rejects == rows(whole, "rejects")
    assert len(kept) + len(rejects) == n_inputs
    assert all(r["clip_embedding"] is not None for r in kept)
