"""One writer per OUT (reliability round 2, items 2 and 12): the writer lock ``OUT/_work/lock.json``
and the refusals that come before anything is written and before Ray starts. No Ray here: every
refusal is checked with ``job.start_ray`` replaced by a function that fails the test."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from curate import job, outputs

LOCK = ("_work", "lock.json")


@pytest.fixture()
def no_ray(monkeypatch):
    """Fail the test if the job tries to start (or join) Ray."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(job, "start_ray", refuse)


def lock_record(pid, host=None, token=None):
    return {
        "host": host or socket.gethostname(),
        "pid": pid,
        "token": token or uuid.uuid4().hex,
        "started": "2025-01-01T10:00:00Z",
    }


def write_lock(out, record, age_s=0.0):
    path = out.joinpath(*LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def photos(folder, photo_writer, n, seed=0):
    for i in range(n):
        photo_writer(folder / f"p{i}.jpg", seed=seed + i, width=320, height=240, f_number=2.0)
    return str(folder)


def resumable_out(out, cfg, fingerprint="0" * 64):
    """An OUT as a first run leaves it: listing.json with the run's settings, listing.parquet."""
    outputs.write_listing(str(out), fingerprint, 3, outputs.result_settings(cfg))
    spilled = out / "_work" / "listing.parquet"
    spilled.write_bytes(b"PAR1 the first job's listing PAR1")
    return spilled


def test_a_second_job_on_a_locked_out_refuses_before_writing_or_ray(
    tmp_path, photo_writer, no_ray, capsys
):
    """Before: the second job rewrote OUT/_work/listing.parquet (the first job's tasks then read
    its row groups) and only then refused, after Ray had started."""
    inp = photos(tmp_path / "b", photo_writer, 2)
    out = tmp_path / "out"
    spilled = resumable_out(out, job.load_config())
    lock = write_lock(out, lock_record(os.getpid(), token="first-job"))  # a live first job
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    assert job.main(["--input", inp, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {out} is being written by another curate job (host ")
    assert f"pid {os.getpid()}, since 2025-01-01T10:00:00Z" in err
    assert err.rstrip().endswith("wait for it or use another --out")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # listing.parquet byte-identical, the first job's lock untouched
    assert spilled.read_bytes() == before[spilled] and json.loads(lock.read_text())["token"] == (
        "first-job"
    )


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path, capsys):
    from curate.lock import OutLock

    out = tmp_path / "out"
    pid = dead_pid()
    write_lock(out, lock_record(pid))
    lock = OutLock.acquire(str(out), heartbeat=False)
    try:
        record = json.loads(out.joinpath(*LOCK).read_text())
        assert (record["pid"], record["host"]) == (os.getpid(), socket.gethostname())
        assert record["token"] == lock.token and record["started"]
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "took over" in err and f"pid {pid} is not running" in err
    assert not out.joinpath(*LOCK).exists()


def test_a_lock_without_heartbeat_is_taken_over_from_any_host(tmp_path, capsys):
    from curate.lock import STALE_AFTER_S, OutLock

    out = tmp_path / "out"
    other = lock_record(1, host="another-node")
    write_lock(out, other, age_s=STALE_AFTER_S - 60)
    with pytest.raises(outputs.OutputError, match="being written by another curate job"):
        OutLock.acquire(str(out), heartbeat=False)  # another host's pid cannot be checked
    write_lock(out, other, age_s=STALE_AFTER_S + 60)
    with OutLock.acquire(str(out), heartbeat=False):
        assert "no heartbeat for" in capsys.readouterr().err
    assert not out.joinpath(*LOCK).exists()


def test_the_heartbeat_refreshes_the_lock_and_notices_a_takeover(tmp_path, monkeypatch):
    from curate import lock as lockmod

    monkeypatch.setattr(lockmod, "HEARTBEAT_S", 0.05)
    out = tmp_path / "out"
    held = lockmod.OutLock.acquire(str(out))
    path = out.joinpath(*LOCK)
    old = time.time() - 3600
    os.utime(path, (old, old))
    deadline = time.time() + 5
    while path.stat().st_mtime < time.time() - 60 and time.time() < deadline:
        time.sleep(0.02)
    assert path.stat().st_mtime > time.time() - 60  # refreshed by the heartbeat thread
    held.check()
    write_lock(out, lock_record(os.getpid(), token="someone-else"))
    while held.lost is None and time.time() < deadline:
        time.sleep(0.02)
    with pytest.raises(outputs.OutputError, match="lost the lock"):
        held.check()
    held.release()  # not ours any more: left in place
    assert json.loads(path.read_text())["token"] == "someone-else"


def test_the_lock_is_released_after_a_run_and_after_a_failing_run(
    tmp_path, photo_writer, monkeypatch
):
    """main() with Ray and the passes replaced: the lock exists while the job runs and is gone
    after it, whether it finished, failed or was interrupted."""
    inp = photos(tmp_path / "a", photo_writer, 2)
    out = tmp_path / "out"
    seen, plan = [], [None, job.JobError("boom"), KeyboardInterrupt()]

    def fake_execute(out_, listing, cfg, **kw):
        seen.append(json.loads(out.joinpath(*LOCK).read_text())["pid"])
        if fail := plan[len(seen) - 1]:
            raise fail
        return {"counts_ok": True, "count_problems": []}

    monkeypatch.setattr(job, "start_ray", lambda *a, **k: False)
    monkeypatch.setattr(job.ray, "is_initialized", lambda: True)
    monkeypatch.setattr(job, "execute", fake_execute)
    monkeypatch.setattr(job, "text_summary", lambda stats: "done")
    argv = ["--input", inp, "--out", str(out), "--no-progress"]
    for rc in [0, 1, None]:
        if rc is None:
            with pytest.raises(KeyboardInterrupt):
                job.main(argv)
        else:
            assert job.main(argv) == rc
        assert not out.joinpath(*LOCK).exists()
    assert seen == [os.getpid()] * 3


def test_a_resume_with_changed_settings_is_refused_before_ray(
    tmp_path, photo_writer, no_ray, capsys
):
    """Before: refused with exit 1 after Ray had started (~25 s) and after the spill had
    rewritten listing.parquet."""
    inp = photos(tmp_path / "a", photo_writer, 2)
    out = tmp_path / "out"
    spilled = resumable_out(out, job.load_config(overrides=["filters.max_f_number=2.0"]))
    before = spilled.read_bytes()
    argv = ["--input", inp, "--out", str(out), "--set", "filters.max_f_number=5.3"]
    assert job.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "filters.max_f_number: 2.0 -> 5.3" in err, err
    assert spilled.read_bytes() == before
    assert not out.joinpath(*LOCK).exists()
    assert not list((out / "_work").glob(".listing-*"))


def test_a_resume_over_a_different_listing_is_refused_before_ray(
    tmp_path, photo_writer, no_ray, capsys
):
    inp = photos(tmp_path / "a", photo_writer, 2)
    out = tmp_path / "out"
    spilled = resumable_out(out, job.load_config(), fingerprint="f" * 64)
    before = spilled.read_bytes()
    assert job.main(["--input", inp, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different listing" in err, err
    assert spilled.read_bytes() == before
    assert sorted(p.name for p in (out / "_work").iterdir()) == ["listing.json", "listing.parquet"]


# ---- object stores (a local moto S3 server, as tests/curate/test_s3.py) -----------------------


@pytest.fixture(scope="module")
def s3_bucket(s3_server_factory):
    with s3_server_factory() as (_, client):
        client.create_bucket(Bucket="locks")
        yield client


def test_s3_lock_with_conditional_writes(s3_bucket):
    from curate import lock as lockmod

    out = "s3://locks/run"
    first = lockmod.OutLock.acquire(out, heartbeat=False)
    assert isinstance(first._store, lockmod._S3Store)
    body = s3_bucket.get_object(Bucket="locks", Key="run/_work/lock.json")["Body"].read()
    assert json.loads(body)["token"] == first.token
    with pytest.raises(lockmod.LockError, match="^s3://locks/run is being written by another"):
        lockmod.OutLock.acquire(out, heartbeat=False)
    # A second writer cannot create it, nor replace it without the version it read.
    other = lockmod._S3Store(f"{out}/_work/lock.json")
    assert not other.create(b'{"token": "x"}', "x")
    assert not other.take_over('"not-its-etag"', b'{"token": "x"}', "x")
    assert first._store.refresh(first._body(), first.token)  # If-Match: its own version
    s3_bucket.put_object(Bucket="locks", Key="run/_work/lock.json", Body=b'{"token": "y"}')
    assert not first._store.refresh(first._body(), first.token)  # replaced behind its back
    first.release()  # not ours: left alone
    assert s3_bucket.get_object(Bucket="locks", Key="run/_work/lock.json")["Body"].read() == (
        b'{"token": "y"}'
    )
    # A lock whose process is gone (this host) is taken over, then released.
    record = json.dumps(lock_record(dead_pid())).encode()
    s3_bucket.put_object(Bucket="locks", Key="run/_work/lock.json", Body=record)
    with lockmod.OutLock.acquire(out, heartbeat=False) as again:
        assert again._store._ours(again.token)
    listed = s3_bucket.list_objects_v2(Bucket="locks", Prefix="run/_work/lock")
    assert "Contents" not in listed


def test_object_store_lock_without_conditional_writes(s3_bucket):
    """gs://, or s3:// without boto3: upload when absent, then read back."""
    from curate import lock as lockmod

    uri = "s3://locks/plain/_work/lock.json"
    a, b = lockmod._ObjectStore(uri), lockmod._ObjectStore(uri)
    assert a.create(b'{"token": "a"}', "a")
    assert not b.create(b'{"token": "b"}', "b")
    data, mtime, _ = b.read()
    assert json.loads(data)["token"] == "a" and abs(mtime - time.time()) < 120
    assert a.refresh(b'{"token": "a"}', "a") and not b.refresh(b'{"token": "b"}', "b")
    b.delete("b")  # not b's: kept
    assert a.read()[0] is not None
    a.delete("a")
    assert a.read()[0] is None
