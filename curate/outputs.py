"""The job's output folder OUT (a local path or an ``s3://``/``gs://`` prefix) and its small files.

``OUT/_work/`` holds the resume state: ``listing.json`` (a fingerprint of the sorted input URIs and
the shard size, and the settings that decide the rows, ``result_settings``; a re-run over another
listing or with other settings is refused, since its finished shards were filtered with the first
ones), the sorted listing itself (``listing.parquet``, one row group per shard, ``listing_path``;
rewritten by every run, once its fingerprint has been checked: it is spilled to
``staged_listing`` first), each shard's candidates before dedup, and, while a job runs, its writer
lock ``lock.json`` (:mod:`curate.lock`). A shard is *done* when both its
final parts exist under OUT. The inputs the listing itself rejects (links that leave the input, loop
or dangle; FIFOs and devices) belong to no shard: they are one final part,
``OUT/rejects/part-list.parquet``, written once (``write_listing_rejects``). ``check_out`` refuses,
before any work, an OUT that is a file (or lies under one) and an OUT whose ``listing.json`` or
``stats.json`` is not what this job writes (a JSON object), with one line naming the file.
``write_bytes`` writes a whole file at once: locally through :func:`infra.files.atomic_write`
(temp file in the same folder, then ``os.replace``), on object stores in one PUT, which they
publish atomically; so ``stats.json`` and the summaries are never seen half-written. No Ray.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

from curate.passes import reject
from curate.summary import html_report, plot_png
from infra.config_file import settings_changes  # noqa: F401  (curate's name too)
from infra.files import atomic_write
from infra.uri import is_uri, join, resolve_filesystem
from infra.uri import read_bytes as read_uri
from manifests import part_exists, write_part

WORK = "_work"
LISTING = "listing.json"
LISTING_FILE = "listing.parquet"  # the sorted listing, one row group per shard
LISTING_SHARD = "list"  # the shard name of the listing's rejects part
STATS = "stats.json"
_START_OVER = "delete it or use a fresh --out"


class OutputError(ValueError):
    """OUT cannot be used; ``str()`` is one line naming the path and what to do."""


def out_root(out: str) -> str:
    """``out`` as the job uses it: an absolute local path, or a URI without a trailing ``/``."""
    return out.rstrip("/") if is_uri(out) else os.path.abspath(out)


def write_bytes(root: str, name: str, data: bytes) -> str:
    """Write ``root/name`` whole (atomically, see the module doc); returns its path."""
    target = join(root, name)
    if not is_uri(target):
        atomic_write(target, lambda tmp: Path(tmp).write_bytes(data))
        return target
    fs, path = resolve_filesystem(target)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(data)
    return target


def read_bytes(root: str, name: str) -> bytes | None:
    """The whole of ``root/name``, or None when it cannot be read (absent)."""
    try:
        return read_uri(join(root, name))
    except OSError:
        return None


def _json_object(root: str, name: str, required: tuple[str, ...] = ()) -> dict | None:
    """``root/name`` as a JSON object holding ``required`` keys; None when absent; else
    ``OutputError`` (one line)."""
    data = read_bytes(root, name)
    if data is None:
        return None
    where = join(root, name)
    try:
        value = json.loads(data)
    except ValueError as e:  # also bad UTF-8
        raise OutputError(f"{where}: not valid JSON ({e}); {_START_OVER}") from None
    if not isinstance(value, dict):
        kind = {list: "list", str: "string"}.get(type(value), type(value).__name__)
        raise OutputError(f"{where}: a JSON {kind}, not the object curate writes; {_START_OVER}")
    missing = [k for k in required if not isinstance(value.get(k), str)]
    if missing:
        raise OutputError(f"{where}: no {missing[0]!r} string in it; {_START_OVER}")
    return value


def check_out(out: str) -> None:
    """Refuse an OUT the job cannot write or resume (see the module doc); a listing error of
    an object store (credentials, network) is left to the job, which reports it itself."""
    try:
        fs, path = resolve_filesystem(out)
        info = fs.get_file_info(path)
    except (OSError, ValueError):
        return
    if info.type == pafs.FileType.File:
        raise OutputError(
            f"--out {out}: is a file, not a folder; give a folder (new, or the --out "
            "of an earlier run to resume it)"
        )
    if not is_uri(out) and info.type == pafs.FileType.NotFound:
        parent = Path(out).parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise OutputError(f"--out {out}: {parent} is a file, so the folder cannot be made")
    if info.type != pafs.FileType.Directory:
        return
    if not is_uri(out) and not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: folder not writable")
    _json_object(join(out, WORK), LISTING, required=("fingerprint",))
    _json_object(out, STATS)


# how the job runs, not which rows it writes: a resume may change these
EXECUTION_ONLY = {"clip": ("batch_size", "actors", "cpus_per_actor")}


def result_settings(cfg) -> dict:
    """The config as plain data, less the settings that do not change the rows."""
    d = cfg.model_dump(mode="json", by_alias=True)
    for section, keys in EXECUTION_ONLY.items():
        for k in keys:
            d.get(section, {}).pop(k, None)
    return d


def listing_path(out: str) -> str:
    """Where the job spills its sorted listing (:mod:`curate.spill`): under OUT, which every
    node of a cluster reads."""
    return join(out, WORK, LISTING_FILE)


def listing_scratch(out: str) -> str | None:
    """Where the spill's sorted chunks go (the driver alone reads them): under ``OUT/_work`` for
    a local OUT, the system's temp folder for an object store."""
    return None if is_uri(out) else join(out, WORK)


def staged_listing(out: str) -> str:
    """Where the job spills its listing before it is checked against OUT's ``listing.json``
    (:func:`curate.spill.publish` then moves it to :func:`listing_path`): beside it for a local
    OUT (one rename), a local temporary file for an object store."""
    if not is_uri(out):
        return join(out, WORK, ".listing-staged.parquet")
    fd, path = tempfile.mkstemp(prefix="curate-listing-", suffix=".parquet")
    os.close(fd)
    return path


def previous_listing(out: str) -> dict | None:
    """What an earlier run left in ``OUT/_work/listing.json`` (fingerprint, settings), or None
    for a fresh OUT."""
    return _json_object(join(out, WORK), LISTING, required=("fingerprint",))


def write_listing(out: str, fingerprint: str, n_files: int, settings: dict | None = None) -> None:
    record = {"fingerprint": fingerprint, "files": n_files, "settings": settings}
    write_bytes(join(out, WORK), LISTING, json.dumps(record).encode())


def write_listing_rejects(out: str, rejects: list) -> bool:
    """The listing's rejects (``curate.listing.Rejected``, stage ``list``) as one final part,
    ``OUT/rejects/part-list.parquet``, written once: a resume lists the same inputs (the
    fingerprint says so) and keeps the part it finds. True when written now."""
    if not rejects or part_exists(out, "rejects", LISTING_SHARD):
        return False
    rows = [reject(r.uri, "list", r.reason, r.detail) for r in rejects]
    write_part(rows, out, "rejects", LISTING_SHARD, created_by="curate")
    return True


def shard_done(out: str, k: int) -> bool:
    return part_exists(out, "real_photos", k) and part_exists(out, "rejects", k)


def has_candidates(out: str, k: int) -> bool:
    """Pass 2 finished shard ``k`` in an earlier run (its candidates await dedup): both of its
    candidate parts exist (a kill between the two leaves one, and the shard is redone)."""
    work = join(out, WORK)
    return part_exists(work, "real_photos", k) and part_exists(work, "rejects", k)


def write_json(out: str, name: str, value: dict) -> str:
    return write_bytes(out, name, json.dumps(value, indent=1).encode())


def write_summaries(out: str, stats: dict, kept, rejects) -> None:
    """``summary.png`` (plots of the kept and rejected tables) and ``summary.html`` (embeds it)."""
    png = plot_png(kept, rejects)
    write_bytes(out, "summary.png", png)
    write_bytes(out, "summary.html", html_report(stats, png).encode())
