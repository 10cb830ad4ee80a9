"""The job's output folder OUT (a local path or an ``s3://``/``gs://`` prefix) and its small files.

``OUT/_work/`` holds the resume state: ``listing.json`` (a fingerprint of the sorted input URIs
and the shard size; a re-run over another listing is refused) and each shard's candidates before
dedup. A shard is *done* when both its final parts exist under OUT. ``write_bytes`` writes a
whole file at once: locally through :func:`manifests.io.atomic_write` (temp file in the same
folder, then ``os.replace``), on object stores in one PUT, which they publish atomically; so
``stats.json`` and the summaries are never seen half-written. No Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from curate.listing import Entry
from curate.summary import html_report, plot_png
from manifests import part_exists
from manifests.io import atomic_write
from manifests.uri import is_uri, join, resolve_filesystem
from manifests.uri import read_bytes as read_uri

WORK = "_work"


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


def listing_fingerprint(entries: list[Entry], shard_size: int) -> str:
    h = hashlib.sha256(f"{shard_size}\n".encode())
    for e in entries:
        h.update(e.uri.encode() + b"\n")
    return h.hexdigest()


def previous_fingerprint(out: str) -> str | None:
    """The listing fingerprint an earlier run left in OUT, or None for a fresh OUT."""
    previous = read_bytes(join(out, WORK), "listing.json")
    return None if previous is None else json.loads(previous)["fingerprint"]


def write_listing(out: str, fingerprint: str, n_files: int) -> None:
    record = {"fingerprint": fingerprint, "files": n_files}
    write_bytes(join(out, WORK), "listing.json", json.dumps(record).encode())


def shard_done(out: str, k: int) -> bool:
    return part_exists(out, "real_photos", k) and part_exists(out, "rejects", k)


def has_candidates(out: str, k: int) -> bool:
    """Pass 2 finished shard ``k`` in an earlier run (its candidates await dedup)."""
    return part_exists(join(out, WORK), "real_photos", k)


def write_json(out: str, name: str, value: dict) -> str:
    return write_bytes(out, name, json.dumps(value, indent=1).encode())


def write_summaries(out: str, stats: dict, kept, rejects) -> None:
    """``summary.png`` (plots of the kept and rejected tables) and ``summary.html`` (embeds it)."""
    png = plot_png(kept, rejects)
    write_bytes(out, "summary.png", png)
    write_bytes(out, "summary.html", html_report(stats, png).encode())
