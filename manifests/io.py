"""Atomic, sharded manifest writes and multi-part reads over local paths and object-store URIs.

Layout: ``ROOT/<schema>/part-<shard>.parquet``. Local writes go through :func:`atomic_write` (a
hidden temp file in the same folder, fsynced, then renamed), so a killed writer leaves no visible
partial part (readers skip names starting with ``.`` or ``_``, as pyarrow does); the other stages
use the same ``atomic_write`` for their own files. Object stores (``s3://``, ``gs://``) get the
whole file in one PUT, which they publish atomically. Every part carries the schema name, version
and creating tool in its metadata; readers refuse a major version they do not know. Paths and
URIs are resolved by ``infra.uri``; rows are checked by ``manifests.schemas.validate_table``.
:func:`read_table` converts the raw ``file://`` paths of parts written before percent-encoded
URIs (``manifests.upgrade``), so its callers see one convention.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from infra.errors import one_line
from infra.files import TMP_MARK, atomic_write, dead_writers_file
from infra.uri import join, resolve_filesystem
from manifests.schemas import (
    SCHEMAS,
    ManifestSchema,
    get_schema,
    validate_table,
)
from manifests.upgrade import upgrade_part, with_nulls

META_SCHEMA = b"refocus.schema"
META_VERSION = b"refocus.schema_version"
META_CREATED_BY = b"refocus.created_by"
META_SHARD = b"refocus.shard"

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"


class ManifestError(ValueError):
    """Bad manifest input; ``str()`` is one line naming the file and the reason."""


def project_version() -> str:
    """The installed refocus-engine version (``unknown`` when run from a bare checkout)."""
    try:
        return importlib.metadata.version("refocus-engine")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _shard_name(shard) -> str:
    if isinstance(shard, int):
        return f"{shard:05d}"
    name = str(shard)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.=-]*", name):
        raise ValueError(f"shard name {name!r} must be an int or [A-Za-z0-9_.=-] characters")
    return name


def part_path(root, schema_name: str, shard) -> str:
    """Where the part for ``shard`` of ``schema_name`` lives under ``root`` (same style as root)."""
    get_schema(schema_name)
    return join(root, schema_name, f"{PART_PREFIX}{_shard_name(shard)}{PART_SUFFIX}")


def part_exists(root, schema_name: str, shard) -> bool:
    """True when that shard's part was completely written (a re-run can skip the shard)."""
    fs, path = resolve_filesystem(part_path(root, schema_name, shard))
    return fs.get_file_info(path).type == pafs.FileType.File


def _to_table(data, schema: ManifestSchema) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        rows = list(data)
        if rows and isinstance(rows[0], pa.RecordBatch):
            table = pa.Table.from_batches(rows)
        else:
            names = list(schema.arrow.names)
            extra = sorted({k for r in rows for k in r} - set(names))
            table = pa.Table.from_pylist(rows, schema=schema.arrow) if not extra else None
            if table is None:
                base = pa.Table.from_pylist(
                    [{k: r.get(k) for k in names} for r in rows], schema=schema.arrow
                )
                for k in extra:
                    base = base.append_column(k, pa.array([r.get(k) for r in rows]))
                table = base
    else:
        raise TypeError(f"cannot write {type(data).__name__} as a manifest part")
    # a nullable column added by a minor version may be left out: nulls
    table = with_nulls(table, [c for c in schema.columns if c.since and c.nullable])
    missing = [n for n in schema.arrow.names if n not in table.column_names]
    if missing:
        raise ManifestError(
            f"{schema.name} part is missing required column(s): {', '.join(missing)}"
        )
    # Known columns in schema order and types, extra columns kept after them.
    cols = [table.column(n).cast(schema.arrow.field(n).type) for n in schema.arrow.names]
    fields = list(schema.arrow)
    for n in table.column_names:
        if n not in schema.arrow.names:
            cols.append(table.column(n))
            fields.append(table.schema.field(n))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def write_part(
    data,
    root,
    schema_name: str,
    shard,
    *,
    created_by: str = "manifests",
    validate: bool = True,
    row_group_size: int | None = None,
) -> str:
    """Write one shard's part atomically and return its path.

    ``data`` is a ``pa.Table``, record batches or a list of row dicts. The table is cast to the
    schema (extra columns are kept) and, with ``validate=True``, checked by
    :func:`manifests.schemas.validate_table` first: invalid rows raise :class:`ManifestError`
    and nothing is written.
    """
    schema = get_schema(schema_name)
    table = _to_table(data, schema)
    target = part_path(root, schema_name, shard)
    if validate:
        problems = validate_table(table, schema, source=target)
        if problems:
            raise ManifestError(f"{problems[0]} ({len(problems)} problem(s); nothing written)")
    meta = dict(table.schema.metadata or {})
    meta.update(
        {
            META_SCHEMA: schema.name.encode(),
            META_VERSION: schema.version.encode(),
            META_CREATED_BY: f"refocus-engine {project_version()} ({created_by})".encode(),
            META_SHARD: _shard_name(shard).encode(),
        }
    )
    table = table.replace_schema_metadata(meta)
    fs, path = resolve_filesystem(target)
    folder = path.rsplit("/", 1)[0]
    fs.create_dir(folder, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        _write_local(table, path, row_group_size)
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, row_group_size=row_group_size)
        with fs.open_output_stream(path) as out:
            out.write(sink.getvalue())
    return target


def row_problems(rows: list[dict], schema_name: str) -> list[str | None]:
    """Per row dict, the first reason :func:`write_part` would refuse it for (one line), or
    None. Lets a writer move the rows it cannot hold aside instead of failing the whole part;
    the whole list is checked at once first, row by row only when that fails."""
    schema = get_schema(schema_name)

    def first_problem(part: list[dict]) -> str | None:
        try:
            problems = validate_table(_to_table(part, schema), schema, source="")
        except Exception as e:  # a value Arrow cannot cast (int32 overflow, bad UTF-8, ...)
            text = " ".join(str(e).split())
            return f"{type(e).__name__}: {text}" if text else type(e).__name__
        return problems[0].message if problems else None

    if not rows or first_problem(rows) is None:
        return [None] * len(rows)
    return [first_problem([row]) for row in rows]


def _write_local(table: pa.Table, path: str, row_group_size: int | None) -> None:
    folder, name = os.path.split(path)
    # Leftovers of a killed writer of this shard. Another writer of the same shard may be alive
    # (a requeued or retried task): its temp file is fresh, so only old ones are removed.
    for stale in os.listdir(folder):
        if stale.startswith(f".{name}{TMP_MARK}") and dead_writers_file(folder, stale):
            try:
                os.unlink(os.path.join(folder, stale))
            except FileNotFoundError:
                pass

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            with pq.ParquetWriter(f, table.schema) as writer:
                for batch in table.to_batches(max_chunksize=row_group_size):
                    writer.write_batch(batch)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


@dataclass(frozen=True)
class Located:
    """What a user-given PATH points at: the root, the schema names and their part files."""

    fs: pafs.FileSystem
    root: str
    parts: dict[str, list[str]]  # schema name -> part file paths (in fs), sorted


def _visible_parts(fs: pafs.FileSystem, folder: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File
        and i.base_name.startswith(PART_PREFIX)  # hides ".part-*.tmp-*" of killed writers
        and i.base_name.endswith(PART_SUFFIX)
    )


def locate(path_or_uri, schema_name: str | None = None) -> Located:
    """Find the root and parts for a root folder, a schema folder or a single part file."""
    fs, path = resolve_filesystem(path_or_uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise ManifestError(f"{path_or_uri}: no such file or folder")
    if info.type == pafs.FileType.File:
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        name = schema_name or read_part_info(fs, path)[0]
        return Located(fs, folder.rsplit("/", 1)[0], {name: [path]})
    direct = _visible_parts(fs, path)
    if direct:
        name = schema_name or read_part_info(fs, direct[0])[0]
        return Located(fs, path.rsplit("/", 1)[0], {name: direct})
    names = [schema_name] if schema_name else list(SCHEMAS)
    parts = {n: _visible_parts(fs, join(path, n)) for n in names}
    parts = {n: p for n, p in parts.items() if p}
    if not parts and schema_name is None:
        raise ManifestError(
            f"{path_or_uri}: no manifest parts here (expected part-*.parquet in this folder "
            f"or in one of {', '.join(SCHEMAS)}/)"
        )
    return Located(fs, path, parts)


def read_part_info(fs: pafs.FileSystem, path: str) -> tuple[str, str, str]:
    """``(schema name, version, created_by)`` from a part's footer, refusing unknown ones."""
    try:
        with fs.open_input_file(path) as f:
            size = f.size()
            meta = pq.ParquetFile(f).metadata
            arrow_schema = meta.schema.to_arrow_schema()
    except (OSError, pa.ArrowException, ValueError) as e:
        raise ManifestError(
            f"{path}: not a readable Parquet file ({one_line(e, limit=300)})"
        ) from None
    problem = footer_problem(meta, _stored_bytes(fs, path, size))
    if problem:
        raise ManifestError(f"{path}: corrupt Parquet footer ({problem})")
    meta = arrow_schema.metadata or {}
    if META_SCHEMA not in meta or META_VERSION not in meta:
        raise ManifestError(f"{path}: no refocus schema name/version in the Parquet metadata")
    name = meta[META_SCHEMA].decode()
    version = meta[META_VERSION].decode()
    created_by = meta.get(META_CREATED_BY, b"").decode()
    if name not in SCHEMAS:
        raise ManifestError(f"{path}: unknown schema {name!r} (known: {', '.join(SCHEMAS)})")
    known = SCHEMAS[name]
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise ManifestError(f"{path}: malformed schema version {version!r}") from None
    if major != known.major:
        raise ManifestError(
            f"{path}: {name} schema version {version} is not readable by this reader "
            f"(supports {known.version}, major {known.major}); use a matching refocus-engine"
        )
    return name, version, created_by


# The most a part's column chunk may claim uncompressed; manifest parts hold thousands of rows.
MAX_CHUNK_BYTES = 4 << 30


def footer_problem(meta: pq.FileMetaData, file_bytes: int) -> str | None:
    """Why a part's footer cannot describe a file of ``file_bytes`` bytes, or None. Checked
    before any column is read, since a reader allocates what the footer claims: a 50 KB file
    that claims 2**31 rows would cost gigabytes per column. A row takes at least one bit of the
    file (every manifest row holds a distinct id or URI), the row groups' rows add up to the
    file's, and every column chunk lies inside the file and claims at most ``MAX_CHUNK_BYTES``."""
    rows = meta.num_rows
    if rows < 0 or rows > 8 * file_bytes:
        return f"claims {rows} rows in a file of {file_bytes} bytes"
    group_rows = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        group_rows += group.num_rows
        for c in range(group.num_columns):
            chunk = group.column(c)
            starts = [chunk.data_page_offset, chunk.dictionary_page_offset or 0]
            end = max(starts) + chunk.total_compressed_size
            if min(starts) < 0 or chunk.total_compressed_size < 0 or end > file_bytes:
                return f"row group {g} column {chunk.path_in_schema} lies outside the file"
            if not 0 <= chunk.total_uncompressed_size <= MAX_CHUNK_BYTES:
                return (
                    f"row group {g} column {chunk.path_in_schema} claims "
                    f"{chunk.total_uncompressed_size} bytes"
                )
    if group_rows != rows:
        return f"its row groups hold {group_rows} rows, the file claims {rows}"
    return None


def _stored_bytes(fs: pafs.FileSystem, path: str, size: int) -> int:
    """The bytes a part really holds: its size, or less for a sparse local file (a 2 GiB hole
    holds nothing; its blocks say so), which would otherwise let a footer claim rows at will."""
    if isinstance(fs, pafs.LocalFileSystem):
        try:
            blocks = os.stat(path).st_blocks
        except (OSError, AttributeError):
            return size
        if blocks > 0:  # 0 for a file with a footer: a filesystem that does not count blocks
            return min(size, blocks * 512)
    return size


def read_part(fs: pafs.FileSystem, path: str, columns: list[str] | None = None) -> pa.Table:
    """One part's table (``columns``: only those the part has), after :func:`read_part_info`
    checked its footer; a part that cannot be read is one :class:`ManifestError` naming it."""
    try:
        with fs.open_input_file(path) as f:
            return pq.read_table(f, columns=_present(f, columns))
    except (OSError, pa.ArrowException, ValueError) as e:
        raise ManifestError(
            f"{path}: not a readable Parquet part ({one_line(e, limit=300)})"
        ) from None


def read_table(
    path_or_uri, schema_name: str | None = None, columns: list[str] | None = None
) -> pa.Table:
    """All parts of one schema under PATH as one table (version-checked, in part order);
    ``columns`` reads only those (a big manifest's counts need not load every column)."""
    loc = locate(path_or_uri, schema_name)
    if len(loc.parts) != 1:
        found = ", ".join(loc.parts) or "none"
        raise ManifestError(f"{path_or_uri}: name a schema to read (found: {found})")
    ((name, files),) = loc.parts.items()
    tables = []
    for p in files:
        _, version, _ = read_part_info(loc.fs, p)
        tables.append(upgrade_part(read_part(loc.fs, p, columns), name, version, columns))
    if not tables:
        empty = get_schema(name).arrow.empty_table()
        return empty.select(columns) if columns is not None else empty
    return pa.concat_tables(tables, promote_options="default")


def _present(f, columns: list[str] | None) -> list[str] | None:
    """``columns`` less those the part lacks (columns newer than the part are added after)."""
    if columns is None:
        return None
    names = set(pq.read_schema(f).names)
    return [c for c in columns if c in names]


def open_dataset(path_or_uri, schema_name: str | None = None) -> pads.Dataset:
    """A lazy ``pyarrow.dataset`` over one schema's parts (for Ray Data and big manifests). It
    yields the values as stored: a part older than ``FILE_URIS_ENCODED_SINCE`` holds raw
    ``file://`` paths (``manifests.upgrade.encode_old_file_uris`` converts a table of one)."""
    loc = locate(path_or_uri, schema_name)
    if len(loc.parts) != 1:
        raise ManifestError(f"{path_or_uri}: name a schema to open (found: {', '.join(loc.parts)})")
    ((name, files),) = loc.parts.items()
    for p in files:
        read_part_info(loc.fs, p)
    return pads.dataset(files, filesystem=loc.fs, format="parquet", schema=None)


def list_parts(path_or_uri, schema_name: str | None = None) -> dict[str, list[str]]:
    """Schema name -> visible part files under PATH."""
    return locate(path_or_uri, schema_name).parts
