"""The contract between stages: Parquet schemas, validation, atomic sharded writes and reads.

Three schemas (``synthetic_pairs``, ``real_photos``, ``rejects``) are defined once in
``schemas`` with their value rules; each part file carries the schema name, version and creating
tool in its Parquet metadata, and readers refuse an unknown major version. A manifest lives under
a *root* folder (a local path or an ``s3://``/``gs://`` URI) as
``ROOT/<schema>/part-<shard>.parquet``; paths inside it are relative to ROOT (or full URIs) and
may not escape it. Modules, each importing only those before it: ``paths`` (the manifest-path
rule and the one root-escape rule), ``schemas`` (columns, value rules and ``validate_table``),
``files`` (the readable-file rule of readers), ``upgrade`` (parts of older minor versions read as
today's), ``io`` (parts written atomically; many parts read as one table), ``validate`` (parts,
values, the count identity ``inputs = kept + rejected`` and, on request, the files the rows
name; ``read_valid_table`` reads only what passes, for the trainer). Imports pyarrow and numpy,
``optics`` for the sensor-source names and ``infra`` (URIs, atomic writes, ``.npy`` headers,
image headers); the shared infrastructure itself (config files, the photo decoder, progress,
Ray start-up) is ``infra``.
"""

from manifests.files import file_problems
from manifests.io import (
    ManifestError,
    atomic_write,
    list_parts,
    open_dataset,
    part_exists,
    part_path,
    read_table,
    write_part,
)
from manifests.schemas import (
    REJECT_REASONS,
    REJECT_STAGES,
    SCHEMAS,
    SPLITS,
    ManifestSchema,
    Problem,
    get_schema,
    validate_table,
)
from manifests.validate import check_counts, read_valid_table, validate_path

__all__ = [
    "REJECT_REASONS",
    "REJECT_STAGES",
    "SCHEMAS",
    "SPLITS",
    "ManifestError",
    "ManifestSchema",
    "Problem",
    "atomic_write",
    "check_counts",
    "file_problems",
    "get_schema",
    "list_parts",
    "open_dataset",
    "part_exists",
    "part_path",
    "read_table",
    "read_valid_table",
    "validate_path",
    "validate_table",
    "write_part",
]
