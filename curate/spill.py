"""The job's sorted listing on disk, so that the driver's memory does not grow with the inputs.

``spill_listing`` walks the inputs (:func:`curate.listing.scan_inputs`) and sorts what it finds
externally: it buffers ``CHUNK_ROWS`` files, sorts the buffer by URI and writes it as a chunk
(an Arrow stream in a scratch folder only the driver reads), then merges the chunks k-way (at
most ``FAN_IN`` at a time; more are merged in rounds) into one Parquet file,
``OUT/_work/listing.parquet`` (shared storage: a task on any node reads its own shard). The merge
drops repeated URIs (a file found directly and through a link, or under two inputs), writes
shard ``k`` as row group ``k`` (``read_shard``) and computes the listing's fingerprint on the
way (a SHA-256 of the shard size, the URIs in order and the listing's rejects). The order,
the shards and the fingerprint are those of :func:`curate.listing.list_inputs`, which sorts in
memory. The driver keeps the counts, the rejects and one buffer or one batch per chunk. The
file is written whole: locally as a temp file renamed into place, on object stores in one
upload. Imports pyarrow, ``curate.listing`` and ``infra`` only.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.parquet as pq

from curate.listing import Entry, Rejected, scan_inputs
from infra.files import atomic_write
from infra.uri import is_uri, resolve_filesystem

CHUNK_ROWS = 8192  # files sorted in memory at a time
BATCH_ROWS = 256  # rows a chunk is written and read back in (the merge holds one per chunk)
FAN_IN = 64  # chunks merged at once
SCHEMA = pa.schema([("uri", pa.string()), ("size_bytes", pa.int64())])


@dataclass(frozen=True)
class SpilledListing:
    """What the driver keeps of a spilled listing: where it lies and its counts."""

    path: str  # the sorted Parquet file (a local path or a URI)
    n_entries: int
    shard_size: int
    fingerprint: str
    ignored: int  # files skipped because of their extension
    rejects: list[Rejected]  # the listing's own rejects, sorted by URI

    @property
    def n_inputs(self) -> int:
        """Inputs of the job: listed files plus the listing's own rejects."""
        return self.n_entries + len(self.rejects)

    @property
    def n_shards(self) -> int:
        return (self.n_entries + self.shard_size - 1) // self.shard_size

    def shard_len(self, k: int) -> int:
        return min(self.shard_size, self.n_entries - k * self.shard_size)


def _with_rejects(h, rejects) -> str:
    """The fingerprint: ``h`` (the shard size, then each URI in order, one line each) and a line
    per listing reject (URI and reason; none adds nothing, so a listing without rejects keeps its
    earlier fingerprint)."""
    for r in rejects:
        h.update(f"rejected {r.reason} {r.uri}\n".encode())
    return h.hexdigest()


def spill_listing(
    inputs: list[str],
    extensions,
    target: str,
    shard_size: int,
    scratch: str | None = None,
) -> SpilledListing:
    """List ``inputs`` into the sorted Parquet file ``target`` (see the module doc); chunks go
    to a temporary folder under ``scratch`` (default: the system's temp folder)."""
    chunks = _Chunks(scratch)
    try:
        ignored, rejects = scan_inputs(inputs, extensions, chunks.add)
        chunks.flush()
        paths = chunks.paths
        while len(paths) > FAN_IN:  # merge rounds keep one batch per open chunk
            groups = [paths[i : i + FAN_IN] for i in range(0, len(paths), FAN_IN)]
            paths = [chunks.write(_merged(_read_chunk(p) for p in g)) for g in groups]
        h = hashlib.sha256(f"{shard_size}\n".encode())  # the fingerprint, while writing
        rows = _hashed(_merged(_read_chunk(p) for p in paths), h)
        n_entries = _write_sorted(target, rows, shard_size)
    finally:
        chunks.remove()
    return SpilledListing(
        target, n_entries, shard_size, _with_rejects(h, rejects), ignored, rejects
    )


def publish(listing: SpilledListing, target: str) -> SpilledListing:
    """Move a listing spilled to a local staging file (see ``curate.outputs.staged_listing``)
    to ``target``: a rename for a local target, else one upload of the file, which is then
    removed. The job stages the spill so that OUT's listing is replaced only once the new
    listing's fingerprint has been checked against OUT's."""
    if listing.path == target:
        return listing
    if is_uri(target):
        fs, path = resolve_filesystem(target)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with open(listing.path, "rb") as src, fs.open_output_stream(path) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.unlink(listing.path)
    else:
        os.replace(listing.path, target)
    return replace(listing, path=target)


def read_shard(path: str, k: int) -> list[Entry]:
    """Shard ``k`` of a spilled listing (its row group ``k``), on any node."""
    fs, p = resolve_filesystem(path)
    with fs.open_input_file(p) as f:
        table = pq.ParquetFile(f).read_row_group(k)
    uris, sizes = table.column("uri").to_pylist(), table.column("size_bytes").to_pylist()
    return [Entry(u, s) for u, s in zip(uris, sizes, strict=True)]


class _Chunks:
    """Sorted runs of the walk's files, each an Arrow stream file in a temporary folder made
    under ``scratch`` when the first run is written (a small listing writes none)."""

    def __init__(self, scratch: str | None):
        self.scratch, self.folder = scratch, None
        self.paths, self.buffer, self.count = [], [], itertools.count()

    def add(self, entry: Entry) -> None:
        self.buffer.append((entry.uri, entry.size_bytes))
        if len(self.buffer) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.buffer.sort()
            self.paths.append(self.write(iter(self.buffer)))
            self.buffer = []

    def write(self, rows: Iterator[tuple[str, int]]) -> str:
        if self.folder is None:
            if self.scratch is not None:
                os.makedirs(self.scratch, exist_ok=True)
            self.folder = tempfile.mkdtemp(prefix=".listing-", dir=self.scratch)
        path = os.path.join(self.folder, f"chunk-{next(self.count):06d}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
            for batch in _batches(rows, BATCH_ROWS):
                writer.write_table(batch)
        return path

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _batches(rows: Iterator[tuple[str, int]], n: int) -> Iterator[pa.Table]:
    while part := list(itertools.islice(rows, n)):
        uris, sizes = zip(*part, strict=True)
        yield pa.table([pa.array(uris, pa.string()), pa.array(sizes, pa.int64())], schema=SCHEMA)


def _read_chunk(path: str) -> Iterator[tuple[str, int]]:
    with pa.OSFile(path, "rb") as source, pa.ipc.open_stream(source) as reader:
        for batch in reader:
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def _merged(runs: Iterable[Iterator[tuple[str, int]]]) -> Iterator[tuple[str, int]]:
    """The sorted runs as one sorted sequence, each URI once."""
    last = None
    for row in heapq.merge(*runs):
        if row[0] != last:
            last = row[0]
            yield row


def _hashed(rows: Iterator[tuple[str, int]], h) -> Iterator[tuple[str, int]]:
    for row in rows:
        h.update(row[0].encode() + b"\n")
        yield row


def _write_sorted(target: str, rows: Iterator[tuple[str, int]], shard_size: int) -> int:
    """Write ``rows`` to ``target`` as Parquet, one row group per shard; returns how many."""
    n = 0

    def write(sink) -> None:
        nonlocal n
        with pq.ParquetWriter(sink, SCHEMA, write_statistics=False) as writer:
            for shard in _batches(rows, shard_size):
                writer.write_table(shard, row_group_size=shard_size)
                n += shard.num_rows

    if is_uri(target):  # object stores publish a whole upload at once
        fs, path = resolve_filesystem(target)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as f:
            write(f)
    else:
        atomic_write(target, write)
    return n
