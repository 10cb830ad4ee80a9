"""Validation of manifests on disk: every part's schema, version, nulls, value ranges and paths,
and the job's counts.

Every problem is one line, ``<file>: <what is wrong>``, so the CLI and the writers can print it
as is. The per-table checks are :func:`manifests.schemas.validate_table` (the same check
``write_part`` runs before writing); paths in path columns must be relative POSIX paths that
stay inside the manifest root, or full URIs with a scheme (:func:`manifests.paths.path_problem`).
A job's ``stats.json`` at the root must satisfy ``inputs = kept + rejected`` and agree with the
row counts of the parts. With ``files`` (``validate --files``) the files the rows name are
checked too (``manifests.files.file_problems``): relative paths must resolve, links followed,
to readable files inside the root; ``file://`` URIs to readable files anywhere.
:func:`read_valid_table` is the reader for code that opens those files (the trainer): it returns
the rows only when all of this holds. Imports ``io``, ``paths``, ``files`` and ``schemas``;
none of them imports this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from infra.npy import npy_header
from infra.uri import FILE_SCHEME, file_path, is_uri, join_root
from manifests.files import file_problems
from manifests.io import Located, ManifestError, locate, read_part, read_part_info
from manifests.paths import inside_root
from manifests.schemas import SYNTHETIC_PAIRS, Problem, get_schema, validate_table
from manifests.upgrade import upgrade_part

STATS_FILE = "stats.json"

# The columns whose files must exist when files are checked. Rejects name the inputs that failed
# (unreadable files, dangling links), so none of theirs; ``depth_path`` is the optional extra
# column of ground-truth depth that the trainer's real-photo route reads.
FILE_COLUMNS = {
    "synthetic_pairs": SYNTHETIC_PAIRS.path_columns,
    "real_photos": ("uri", "depth_path"),
    "rejects": (),
}


def check_counts(stats: dict, source: str, kept_rows=None, rejected_rows=None) -> list[Problem]:
    """``inputs = kept + rejected`` in a job's stats, and agreement with the manifests' rows."""
    problems = []
    try:
        inputs, kept, rejected = (int(stats[k]) for k in ("inputs", "kept", "rejected"))
    except (KeyError, TypeError, ValueError):
        return [Problem(source, "stats need integer 'inputs', 'kept' and 'rejected' counts")]
    if inputs != kept + rejected:
        problems.append(
            Problem(
                source,
                f"count identity broken: inputs {inputs} != kept {kept} + rejected {rejected} "
                f"({inputs - kept - rejected:+d} input(s) unaccounted for)",
            )
        )
    if kept_rows is not None and kept_rows != kept:
        problems.append(
            Problem(source, f"stats say kept {kept} but the manifest has {kept_rows} rows")
        )
    if rejected_rows is not None and rejected_rows != rejected:
        problems.append(
            Problem(source, f"stats say rejected {rejected} but rejects has {rejected_rows} rows")
        )
    return problems


@dataclass
class Report:
    """What :func:`validate_path` found: problems and, per schema, (parts, rows, versions)."""

    problems: list[Problem]
    summary: dict[str, tuple[int, int, set[str]]]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_path(path_or_uri, schema_name: str | None = None, files: bool = False) -> Report:
    """Validate every part under PATH (root, schema folder or part file) and the root's stats;
    with ``files``, also the files the rows name (:func:`file_problems` of ``FILE_COLUMNS``),
    and the headers of the images among them (the decompression-bomb rule every stage applies
    when it decodes; the trainer, which reads through :func:`read_valid_table`, applies it when
    it decodes each image instead)."""
    columns = FILE_COLUMNS if files else {}
    return _validate(path_or_uri, schema_name, columns, keep=False, images=files)[0]


def read_valid_table(
    path_or_uri, schema_name: str, file_columns: tuple[str, ...] | None = None
) -> tuple[pa.Table, Located]:
    """All rows of ``schema_name`` under PATH and where they lie, only when
        :func:`validate_path` finds nothing wrong and every file named in ``file_columns`` (default:
        the schema's ``FILE_COLUMNS``) passes :func:`file_problems`. Else a :class:`ManifestError`:
        the first problem, on one line, and how many more there are (also when PATH holds no part of
    ``schema_name``). Readers that open the files a manifest names
        (the trainer) read it through here."""
    columns = FILE_COLUMNS[schema_name] if file_columns is None else tuple(file_columns)
    report, loc, tables = _validate(path_or_uri, schema_name, {schema_name: columns}, keep=True)
    if not report.ok:
        n = len(report.problems) - 1
        more = f" (and {n} more: python -m manifests validate --files {path_or_uri})" if n else ""
        raise ManifestError(f"{report.problems[0]}{more}")
    if schema_name not in loc.parts:
        raise ManifestError(f"{path_or_uri}: no {schema_name} parts here")
    return pa.concat_tables(tables, promote_options="default"), loc


def _validate(path_or_uri, schema_name, file_columns: dict, keep: bool, images: bool = False):
    """``(report, located, tables)``; ``tables`` only with ``keep``; ``file_columns`` maps a
    schema name to the columns whose files are checked."""
    try:
        loc = locate(path_or_uri, schema_name)
    except ManifestError as e:
        return Report([Problem(str(path_or_uri), str(e).split(": ", 1)[-1])], {}), None, []
    local_root = loc.root if isinstance(loc.fs, pafs.LocalFileSystem) else None
    problems: list[Problem] = []
    summary: dict[str, tuple[int, int, set[str]]] = {}
    kept_tables = []
    keys: dict[str, dict] = {}  # schema -> row key -> where it was first seen
    for name, paths in loc.parts.items():
        rows, versions = 0, set()
        seen = keys.setdefault(name, {})
        for p in paths:
            outside = _part_outside_root(p, local_root)
            if outside:
                problems.append(Problem(p, outside))
                continue
            columns = file_columns.get(name, ())
            table, version, found = _check_part(loc.fs, p, name, local_root, columns, images)
            problems.extend(found)
            if table is None:
                continue
            problems.extend(_duplicate_rows(table, name, p, seen))
            rows += table.num_rows
            versions.add(version)
            if keep:
                kept_tables.append(table)
        summary[name] = (len(paths), rows, versions)
    problems.extend(_kept_and_rejected(keys, loc.root))
    problems.extend(_stats_problems(loc, summary))
    return Report(problems, summary), loc, kept_tables


# What names a row: two rows with one key are a row written twice or a copied part.
KEY_COLUMNS = {
    "synthetic_pairs": ("dataset_id", "scene_id", "render_id"),
    "real_photos": ("uri",),
    "rejects": ("uri",),
}


def _duplicate_rows(table: pa.Table, name: str, path: str, seen: dict) -> list[Problem]:
    """Rows of ``table`` whose key (``KEY_COLUMNS``) an earlier row of the schema has; ``seen``
    (key -> "part, row") carries over from part to part."""
    columns = [table.column(c).to_pylist() for c in KEY_COLUMNS[name]]
    first, count = None, 0
    for i, key in enumerate(zip(*columns, strict=True)):
        if key in seen:
            count += 1
            first = first or (i, key, seen[key])
        else:
            seen[key] = f"{path} row {i}"
    if not count:
        return []
    i, key, where = first
    shown = ", ".join(f"{c}={v!r}" for c, v in zip(KEY_COLUMNS[name], key, strict=True))
    return [
        Problem(
            path,
            f"{count} duplicate row(s) (a row written twice or a copied part), first row {i} "
            f"({shown}) repeats {where}",
        )
    ]


def _kept_and_rejected(keys: dict, root: str) -> list[Problem]:
    """Every input is kept or rejected, never both (``inputs = kept + rejected``)."""
    both = set(keys.get("real_photos", {})) & set(keys.get("rejects", {}))
    if not both:
        return []
    first = sorted(both)[0][0]
    return [Problem(root, f"{len(both)} URI(s) both kept and rejected, first {first}")]


def _part_outside_root(path: str, local_root: str | None) -> str | None:
    """A part that is a link leading out of the manifest root (a local root only)."""
    if local_root is None:
        return None
    real = os.path.realpath(path)
    if not inside_root(real, os.path.realpath(local_root)):
        return f"a link to {real}, outside the manifest root {local_root}"
    return None


def _check_part(
    fs, path: str, name: str, local_root: str | None, file_columns: tuple, images: bool = False
):
    """``(table, version, problems)`` of one part; the table is None when it cannot be read as
    ``name``. Files are checked only when the values are valid (no path is reported twice)."""
    try:
        found, version, _ = read_part_info(fs, path)
    except ManifestError as e:
        return None, None, [Problem(path, str(e).split(": ", 1)[-1])]
    if found != name:
        return None, None, [Problem(path, f"holds schema {found!r} but lies under {name}/")]
    try:
        table = upgrade_part(read_part(fs, path), name, version)
    except ManifestError as e:
        return None, None, [Problem(path, str(e).split(": ", 1)[-1])]
    problems = validate_table(table, get_schema(name), source=path)
    if name == "synthetic_pairs" and not problems:
        problems = _render_uris_outside_root(table, local_root, path)
    if file_columns and not problems:
        problems = file_problems(table, file_columns, local_root, source=path, images=images)
        if images and name == "synthetic_pairs" and not problems:
            problems = _render_file_shapes(table, local_root, path)
    return table, version, problems


def _render_uris_outside_root(table: pa.Table, local_root: str | None, source: str):
    """A render set's files lie under its root: a ``file://`` URI in a ``synthetic_pairs`` path
    column must name a file there (links resolved), or the rows would read files from anywhere
    on the machine that reads them."""
    real_root = os.path.realpath(local_root) if local_root is not None else None
    for name in SYNTHETIC_PAIRS.path_columns:
        if name not in table.column_names:
            continue
        for i, value in enumerate(table.column(name).to_pylist()):
            if not (isinstance(value, str) and value.startswith(FILE_SCHEME)):
                continue
            try:
                real = os.path.realpath(file_path(value))
            except ValueError as e:
                return [Problem(source, f"column {name!r} row {i}: {e}")]
            if not inside_root(real, real_root):
                return [
                    Problem(
                        source,
                        f"column {name!r} row {i}: {value} lies outside the manifest root "
                        f"{local_root} (a render set's files lie under its root)",
                    )
                ]
    return []


def _render_file_shapes(table: pa.Table, local_root: str | None, source: str) -> list[Problem]:
    """With ``--files``: a render's images and maps have the size its row says (an AIF of 1×1
    px in a 32 px row, a depth map whose header claims another shape or more bytes than the
    file holds), read from the headers only."""
    if local_root is None:
        return []
    from infra.images import image_size

    for i, row in enumerate(table.select(["width_px", "height_px", *_SHAPED]).to_pylist()):
        want = (row["height_px"], row["width_px"])
        for column in _SHAPED:
            value = row[column]
            if value is None or (is_uri(value) and not value.startswith(FILE_SCHEME)):
                continue
            full = (
                file_path(value) if value.startswith(FILE_SCHEME) else join_root(value, local_root)
            )
            if column.endswith("_path") and value.endswith(".npy"):
                with open(full, "rb") as f:
                    head = f.read(4096)
                shape, why = npy_header(head, os.path.getsize(full))
                got = tuple(shape)
            else:
                why, got = None, image_size(full)
                got = got[::-1] if got else got
            if why or got != want:
                why = why or f"is {got[1]}x{got[0]} px, the row says {want[1]}x{want[0]}"
                return [Problem(source, f"column {column!r} row {i}: {full}: {why}")]
    return []


_SHAPED = ("aif_path", "bokeh_path", "depth_path", "coc_path")


def _stats_problems(loc: Located, summary: dict) -> list[Problem]:
    stats_path = f"{loc.root}/{STATS_FILE}"
    if loc.fs.get_file_info(stats_path).type != pafs.FileType.File:
        return []
    with loc.fs.open_input_stream(stats_path) as f:
        try:
            stats = json.loads(f.read().decode())
        except ValueError as e:
            return [Problem(stats_path, f"not valid JSON ({e})")]
    if not isinstance(stats, dict):
        kind = {list: "list", str: "string"}.get(type(stats), type(stats).__name__)
        return [Problem(stats_path, f"must be a JSON object, got a {kind}")]
    kept_schema = stats.get("kept_schema")
    kept_rows = summary[kept_schema][1] if kept_schema in summary else None
    rej_rows = summary["rejects"][1] if "rejects" in summary else None
    return check_counts(stats, stats_path, kept_rows, rej_rows)
