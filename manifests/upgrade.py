"""Parts written by older minor versions, read as today's readers expect them: columns added
since (``Column.since``) appear as nulls, and raw ``file://`` paths from before percent-encoded
URIs are encoded (``manifests.schemas.FILE_URIS_ENCODED_SINCE``), so every reader sees one
convention. pyarrow, ``infra.uri`` and ``schemas`` only.
"""

from __future__ import annotations

import pyarrow as pa

from infra.uri import encode_raw_file_uri
from manifests.schemas import SCHEMAS, URI_COLUMNS, has_raw_file_uris, version_tuple


def _older(version: str, since: str | None) -> bool:
    """True when a part of ``version`` predates a column added at ``since``."""
    try:
        return since is not None and version_tuple(version) < version_tuple(since)
    except ValueError:  # an unparseable version counts as current
        return False


def with_nulls(table: pa.Table, columns) -> pa.Table:
    """``table`` with each of ``columns`` (schema ``Column``s) it lacks added as nulls."""
    for col in columns:
        if col.name not in table.column_names:
            table = table.append_column(
                pa.field(col.name, col.type), pa.nulls(table.num_rows, col.type)
            )
    return table


def upgrade_part(
    table: pa.Table, schema_name: str, version: str, columns: list[str] | None = None
) -> pa.Table:
    """A part written at an older minor ``version`` as today's readers expect it: raw
    ``file://`` paths encoded (:func:`encode_old_file_uris`) and the columns added since
    (``Column.since``) present as nulls. ``columns``: only those are wanted, in that order."""
    table = encode_old_file_uris(table, schema_name, version)
    schema = SCHEMAS.get(schema_name)
    if schema is not None:
        table = with_nulls(
            table,
            [
                c
                for c in schema.columns
                if (columns is None or c.name in columns) and _older(version, c.since)
            ],
        )
    if columns is not None and all(c in table.column_names for c in columns):
        table = table.select(columns)
    return table


def encode_old_file_uris(table: pa.Table, schema_name: str, version: str) -> pa.Table:
    """A part's table with the raw ``file://`` paths of a version before percent-encoding
    (``manifests.schemas.FILE_URIS_ENCODED_SINCE``) in today's encoded form, so every reader
    sees one convention; a part of the current version is returned as it is."""
    if not has_raw_file_uris(schema_name, version):
        return table
    for name in URI_COLUMNS.get(schema_name, ()):
        if name not in table.column_names or not pa.types.is_string(table.column(name).type):
            continue
        i = table.column_names.index(name)
        values = [encode_raw_file_uri(v) for v in table.column(name).to_pylist()]
        table = table.set_column(i, table.schema.field(i), pa.array(values, pa.string()))
    return table
