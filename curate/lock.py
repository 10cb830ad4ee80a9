"""One writer per OUT: the job's exclusive lock ``OUT/_work/lock.json``, taken before the job
writes anything else under OUT and released (deleted) when it ends, also when it fails.

The lock is a small JSON object (``host``, ``pid``, a random ``token``, ``started`` in UTC) and a
heartbeat: a daemon thread refreshes it every ``HEARTBEAT_S`` seconds (locally its mtime, on an
object store a new upload), and checks on the way that it still holds the job's token. A lock is
*stale*, and the next job takes it over with one line saying so, when its owner ran on this host
and its pid is no longer running, or (any host) when it has not been refreshed for
``STALE_AFTER_S`` seconds. Otherwise :meth:`OutLock.acquire` refuses with ``LockError``, one line
naming the owner. A job whose lock was taken over behind its back (it hung for longer than
``STALE_AFTER_S``) finds out at its next heartbeat; :meth:`OutLock.check` then raises, and the job
stops before it merges.

How exclusive the lock is depends on the storage:

* local and shared POSIX filesystems (NFS included): created with ``O_CREAT | O_EXCL``, which
  only one process can win; a stale lock is renamed aside (one rename wins) and checked to be the
  one judged stale before a new one is created.
* ``s3://`` with boto3 installed: a conditional upload, ``If-None-Match: *`` to create (S3 refuses
  it when the key exists) and ``If-Match: <ETag>`` to take over a stale lock or refresh one's own,
  so that two jobs can never both hold it; read back afterwards, in case an S3-compatible server
  ignores the conditions.
* ``gs://``, and ``s3://`` without boto3: pyarrow has no conditional write, so the job uploads
  its lock when none is there and reads it back; two jobs that start within the same second can
  both succeed, and the loser only finds out at its first heartbeat. A weaker guarantee.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import pyarrow.fs as pafs

from curate.outputs import WORK, OutputError
from infra.files import pid_running
from infra.uri import is_uri, join, resolve_filesystem

LOCK = "lock.json"
HEARTBEAT_S = 30.0  # how often a job refreshes its lock
STALE_AFTER_S = 600.0  # a lock not refreshed for this long is taken over, from any host
_TRIES = 5


class LockError(OutputError):
    """OUT is held by another job, or this job lost its lock; ``str()`` is one line."""


def _note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(data: bytes | None) -> dict | None:
    try:
        value = json.loads(data)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("token"), str) else None


def _owner(record: dict | None) -> str:
    if record is None:
        return "owner unknown: the lock file is not the JSON curate writes"
    return f"host {record.get('host')}, pid {record.get('pid')}, since {record.get('started')}"


def stale_reason(record: dict | None, mtime: float | None, now: float | None = None) -> str | None:
    """Why a lock may be taken over (its owner is gone), or None while it is held."""
    if record is not None and record.get("host") == socket.gethostname():
        if not pid_running(record.get("pid")):
            return f"pid {record.get('pid')} is not running on {record.get('host')}"
    age = (time.time() if now is None else now) - (mtime or 0.0)
    if age > STALE_AFTER_S:
        return f"no heartbeat for {age:.0f} s (stale after {STALE_AFTER_S:.0f} s)"
    return None


class OutLock:
    """The writer lock of one OUT; :meth:`acquire` takes it, :meth:`release` drops it."""

    def __init__(self, out: str):
        self.out = out
        self.path = join(out, WORK, LOCK)
        self.token = uuid.uuid4().hex
        self.record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "started": _now_iso(),
        }
        self.lost: str | None = None  # why the lock is no longer ours, once the heartbeat knows
        self._store = _store_for(self.path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False

    # ---- taking and dropping -----------------------------------------------------------------

    @classmethod
    def acquire(cls, out: str, *, heartbeat: bool = True) -> OutLock:
        """Take the lock of ``out`` (taking over a stale one, with one line on stderr), or raise
        ``LockError`` naming the job that holds it."""
        lock = cls(out)
        lock._take()
        if heartbeat:
            lock._thread = threading.Thread(target=lock._beat, name="curate-lock", daemon=True)
            lock._thread.start()
        return lock

    def _body(self) -> bytes:
        return json.dumps({**self.record, "heartbeat": _now_iso()}).encode()

    def _take(self) -> None:
        for _ in range(_TRIES):
            if self._store.create(self._body(), self.token):
                self._held = True
                return
            data, mtime, version = self._store.read()
            if data is None:  # released in between: try again
                continue
            record = _parse(data)
            why = stale_reason(record, mtime)
            if why is None:
                raise LockError(
                    f"{self.out} is being written by another curate job ({_owner(record)}); "
                    "wait for it or use another --out"
                )
            if self._store.take_over(version, self._body(), self.token):
                self._held = True
                _note(f"curate: took over the lock {self.path} of a job that is gone ({why})")
                return
        raise LockError(f"{self.out}: could not take the lock {self.path}; try again")

    def release(self) -> None:
        """Stop the heartbeat and delete the lock, if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._held:
            self._held = False
            try:
                self._store.delete(self.token)
            except OSError as e:
                _note(f"curate: could not delete the lock {self.path} ({e}); delete it by hand")

    def __enter__(self) -> OutLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # ---- heartbeat -----------------------------------------------------------------------------

    def _beat(self) -> None:
        failed = False
        while not self._stop.wait(HEARTBEAT_S):
            try:
                ours = self._store.refresh(self._body(), self.token)
            except Exception as e:  # noqa: BLE001 - a failed refresh is retried next time
                if not failed:
                    _note(f"curate: could not refresh the lock {self.path} ({e}); retrying")
                failed = True
                continue
            failed = False
            if not ours:
                data = self._store.read()[0]
                self.lost = f"another job holds it now ({_owner(_parse(data))})"
                self._held = False
                _note(f"error: {self.out}: lost the lock {self.path}: {self.lost}")
                return

    def check(self) -> None:
        """Raise ``LockError`` if the heartbeat found the lock taken by another job."""
        if self.lost is not None:
            raise LockError(
                f"{self.out}: lost the lock {self.path} ({self.lost}); this job stops before "
                "it merges: rerun it when the other job has finished"
            )


# ---- storage ------------------------------------------------------------------------------------


def _store_for(path: str):
    if not is_uri(path) or path.startswith("file://"):
        return _LocalStore(resolve_filesystem(path)[1])
    if path.startswith("s3://") and "?" not in path:
        try:
            import boto3  # noqa: F401
        except ImportError:
            pass
        else:
            return _S3Store(path)
    return _ObjectStore(path)


class _LocalStore:
    """A lock file on a local or shared POSIX filesystem."""

    def __init__(self, path: str):
        self.path = path

    def create(self, body: bytes, token: str) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def read(self) -> tuple[bytes | None, float | None, bytes | None]:
        try:
            with open(self.path, "rb") as f:
                return (data := f.read()), os.fstat(f.fileno()).st_mtime, data
        except FileNotFoundError:
            return None, None, None

    def take_over(self, seen: bytes, body: bytes, token: str) -> bool:
        """Move the stale lock aside (one rename wins), check it is the one judged stale (else
        put it back: another job took it over in between), then create ours."""
        aside = f"{self.path}.stale-{token}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return self.create(body, token)
        try:
            with open(aside, "rb") as f:
                moved = f.read()
            if moved != seen:
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    pass
                except OSError:  # no hard links here
                    if not os.path.exists(self.path):
                        os.rename(aside, self.path)
                return False
        finally:
            if os.path.exists(aside):
                os.unlink(aside)
        return self.create(body, token)

    def refresh(self, body: bytes, token: str) -> bool:
        if (_parse(self.read()[0]) or {}).get("token") != token:
            return False
        os.utime(self.path)
        return True

    def delete(self, token: str) -> None:
        if (_parse(self.read()[0]) or {}).get("token") == token:
            os.unlink(self.path)


class _ObjectStore:
    """A lock object written through pyarrow.fs: no conditional write, so upload then read back
    (see the module doc: two jobs starting together may both pass)."""

    def __init__(self, uri: str):
        self.fs, self.key = resolve_filesystem(uri)

    def _put(self, body: bytes) -> None:
        with self.fs.open_output_stream(self.key) as f:
            f.write(body)

    def _ours(self, token: str) -> bool:
        return (_parse(self.read()[0]) or {}).get("token") == token

    def create(self, body: bytes, token: str) -> bool:
        if self.fs.get_file_info(self.key).type != pafs.FileType.NotFound:
            return False
        self._put(body)
        return self._ours(token)

    def read(self) -> tuple[bytes | None, float | None, None]:
        try:
            with self.fs.open_input_stream(self.key) as f:
                data = f.read()
            mtime = self.fs.get_file_info(self.key).mtime
        except FileNotFoundError:
            return None, None, None
        return data, (mtime.timestamp() if mtime is not None else None), None

    def take_over(self, seen, body: bytes, token: str) -> bool:
        self._put(body)
        return self._ours(token)

    def refresh(self, body: bytes, token: str) -> bool:
        if not self._ours(token):
            return False
        self._put(body)
        return True

    def delete(self, token: str) -> None:
        if self._ours(token):
            self.fs.delete_file(self.key)


class _S3Store(_ObjectStore):
    """An S3 lock object written with conditional uploads (boto3): ``If-None-Match: *`` creates
    it only when absent, ``If-Match: <ETag>`` replaces only the version we read."""

    _CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412"}

    def __init__(self, uri: str):
        import boto3

        super().__init__(uri)
        self.bucket, self.object_key = uri.split("://", 1)[1].split("/", 1)
        self.client = boto3.client("s3")
        self.etag: str | None = None

    def _conditional_put(self, body: bytes, **condition) -> bool:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.put_object(
                Bucket=self.bucket, Key=self.object_key, Body=body, **condition
            )
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code")) in self._CONFLICT:
                return False
            raise OSError(f"s3://{self.bucket}/{self.object_key}: {e}") from None
        self.etag = reply.get("ETag")
        return True

    def create(self, body: bytes, token: str) -> bool:
        return self._conditional_put(body, IfNoneMatch="*") and self._ours(token)

    def read(self) -> tuple[bytes | None, float | None, str | None]:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.object_key)
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
                return None, None, None
            raise OSError(f"s3://{self.bucket}/{self.object_key}: {e}") from None
        return reply["Body"].read(), reply["LastModified"].timestamp(), reply.get("ETag")

    def take_over(self, seen, body: bytes, token: str) -> bool:
        return seen is not None and self._conditional_put(body, IfMatch=seen) and self._ours(token)

    def refresh(self, body: bytes, token: str) -> bool:
        return self.etag is not None and self._conditional_put(body, IfMatch=self.etag)

    def delete(self, token: str) -> None:
        if self._ours(token):
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key)
