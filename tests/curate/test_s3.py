"""Object-store inputs and outputs against a local S3-compatible server (moto) on 127.0.0.1.

Credentials come only from the environment and must never appear in outputs or logs.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate import passes, spill
from curate.config import load_config
from curate.listing import list_inputs
from manifests import read_table, validate_path, write_part

SECRET = "s3cr3t-do-not-log-0123456789"
KEY_ID = "AKIATESTKEYID0000000"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, photo_writer, s3_server_factory):
    with s3_server_factory(SECRET, KEY_ID) as (endpoint, client):
        env = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}
        client.create_bucket(Bucket="photos")
        client.create_bucket(Bucket="curated")
        local = tmp_path_factory.mktemp("s3src")
        for i in range(4):
            p = photo_writer(
                local / f"p{i}.jpg",
                seed=200 + i,
                width=640,
                height=600,
                f_number=1.8,
                focal_mm=50.0,
            )
            client.upload_file(str(p), "photos", f"raw/sub/p{i}.jpg")
        client.put_object(Bucket="photos", Key="raw/broken.jpg", Body=b"\xff\xd8\xff\xe0garbage")
        yield {"endpoint": endpoint, "env": env, "client": client}


def test_s3_listing_passes_and_parts(s3_server, shards):
    cfg = load_config()
    listing = list_inputs(["s3://photos/raw/"], cfg.listing.extensions)
    uris = [e.uri for e in listing.entries]
    assert uris == ["s3://photos/raw/broken.jpg"] + [
        f"s3://photos/raw/sub/p{i}.jpg" for i in range(4)
    ]
    [shard] = shards(listing.entries, 256)
    survivors, rejects = passes.pass1(shard, cfg)  # ranged reads of the first 128 KiB
    assert [r["reason"] for r in rejects] == ["no_exif"] and len(survivors) == 4
    rows, rejects2, _ = passes.pass2(survivors, cfg)
    assert len(rows) == 4 and not rejects2
    write_part(rows, "s3://curated/run", "real_photos", 0)
    write_part(rejects, "s3://curated/run", "rejects", 0)
    table = read_table("s3://curated/run", "real_photos")
    assert table.column("uri").to_pylist()[0] == "s3://photos/raw/sub/p0.jpg"
    assert validate_path("s3://curated/run").ok
    body = s3_server["client"].get_object(
        Bucket="curated", Key="run/real_photos/part-00000.parquet"
    )
    assert SECRET.encode() not in body["Body"].read()


def test_s3_listing_spilled_to_s3_reads_back_by_shard(s3_server, shards, listing_fingerprint):
    target = "s3://curated/spill/_work/listing.parquet"
    spilled = spill.spill_listing(["s3://photos/raw/"], ["jpg"], target, 2)
    listing = list_inputs(["s3://photos/raw/"], ["jpg"])
    assert spilled.fingerprint == listing_fingerprint(listing.entries, 2)
    assert [spill.read_shard(target, k) for k in range(spilled.n_shards)] == shards(
        listing.entries, 2
    )


@pytest.mark.slow
def test_s3_job_end_to_end_without_leaking_credentials(s3_server):
    temp = f"/tmp/rs3{os.getpid() % 100000}"
    env = {**os.environ, **s3_server["env"], "RAY_USAGE_STATS_ENABLED": "0"}
    p = subprocess.run(
        [
            sys.executable,
            "curate/job.py",
            "--input",
            "s3://photos/raw/",
            "--out",
            "s3://curated/job",
            "--num-cpus",
            "2",
            "--ray-temp-dir",
            temp,
            "--no-progress",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kept 4, rejected 1" in p.stdout
    client = s3_server["client"]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="curated", Prefix="job/")["Contents"]]
    for name in [
        "job/stats.json",
        "job/summary.png",
        "job/summary.html",
        "job/real_photos/part-00000.parquet",
        "job/rejects/part-00000.parquet",
    ]:
        assert name in keys
    for key in keys:
        blob = client.get_object(Bucket="curated", Key=key)["Body"].read()
        assert SECRET.encode() not in blob and KEY_ID.encode() not in blob, key
    assert SECRET not in p.stdout + p.stderr and KEY_ID not in p.stdout + p.stderr
    assert validate_path("s3://curated/job").ok
    logs = Path(temp)
    for f in logs.rglob("*"):
        if f.is_file() and f.suffix in (".log", ".out", ".err", ".txt", ".json"):
            assert SECRET not in f.read_text(errors="ignore"), f
    shutil.rmtree(temp, ignore_errors=True)


def test_s3_out_is_checked_before_any_work(s3_server):
    from curate.outputs import OutputError, check_out

    check_out("s3://curated/fresh")  # nothing there yet: fine
    with pytest.raises(OutputError, match=r"^--out s3://photos/raw/broken.jpg: is a file"):
        check_out("s3://photos/raw/broken.jpg")
    s3_server["client"].put_object(Bucket="curated", Key="listed/stats.json", Body=b"[1]")
    with pytest.raises(OutputError, match=r"^s3://curated/listed/stats.json: a JSON list"):
        check_out("s3://curated/listed")


def test_a_real_photos_manifest_on_s3_is_a_synth_photo_pool(s3_server):
    """synth reads its photo pool from the same object store curate writes to (no local copy)."""
    from manifests.example import real_photo_rows
    from synth.pool import PhotoCache, load_pool

    rows = [
        dict(real_photo_rows()[0], uri=f"s3://photos/raw/sub/p{i}.jpg", width_px=640, height_px=600)
        for i in range(4)
    ]
    rows.append(dict(rows[0], uri="s3://photos/raw/broken.jpg"))
    write_part(rows, "s3://curated/pool", "real_photos", 0, created_by="test")
    pool = load_pool("s3://curated/pool")
    assert len(pool.photos) == 4 and all(p.uri.startswith("s3://photos/") for p in pool.photos)
    assert [(u, r.split(" ")[0]) for u, r in pool.skipped] == [
        ("s3://photos/raw/broken.jpg", "decode_failed")
    ]
    image = PhotoCache(pool).get(pool.photos[0].photo_id)  # a worker's read, from S3
    assert image.shape == (600, 640, 3)
