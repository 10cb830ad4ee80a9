"""Validation of manifest tables and files: schema, version, nulls, value ranges, paths, counts.

Every problem is one line, ``<file>: <what is wrong>``, so the CLI and the writers can print it
as is. Paths in path columns must be relative POSIX paths that stay inside the manifest root, or
full URIs with a scheme (``s3://``, ``gs://``, ``file://``; :func:`manifests.uri.path_problem`).
A job's ``stats.json`` at the root must satisfy ``inputs = kept + rejected`` and agree with the
row counts of the parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from manifests.io import ManifestError, locate, read_part_info
from manifests.schemas import ManifestSchema, get_schema
from manifests.uri import path_problem

STATS_FILE = "stats.json"


@dataclass(frozen=True)
class Problem:
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_table(table: pa.Table, schema: ManifestSchema | str, source: str) -> list[Problem]:
    """Check one table against a schema; returns problems (empty when valid)."""
    if isinstance(schema, str):
        schema = get_schema(schema)
    problems: list[Problem] = []
    for col in schema.columns:
        if col.name not in table.column_names:
            problems.append(Problem(source, f"missing required column {col.name!r}"))
            continue
        arr = table.column(col.name)
        if arr.type != col.type:
            problems.append(
                Problem(source, f"column {col.name!r} has type {arr.type}, expected {col.type}")
            )
            continue
        nulls = arr.null_count
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        if nulls and not col.nullable:
            problems.append(
                Problem(
                    source,
                    f"column {col.name!r}: {nulls} null value(s), first at row "
                    f"{_first(~valid)}; it is required",
                )
            )
        if col.rule is None and not col.is_path:
            continue
        rows = np.flatnonzero(valid)
        values = arr.drop_null().to_numpy(zero_copy_only=False)
        if col.rule is not None and len(values):
            predicate, description = col.rule
            with np.errstate(invalid="ignore"):
                ok = np.asarray(predicate(values), dtype=bool)
            if not ok.all():
                i = _first(~ok)
                problems.append(
                    Problem(
                        source,
                        f"column {col.name!r}: {int((~ok).sum())} value(s) out of range "
                        f"({description}), first at row {int(rows[i])}: {values[i]!r}",
                    )
                )
        if col.is_path:
            for i, v in enumerate(values):
                why = path_problem(v)
                if why:
                    problems.append(
                        Problem(source, f"column {col.name!r} row {int(rows[i])}: {v!r} {why}")
                    )
                    break
    return problems


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


def validate_path(path_or_uri, schema_name: str | None = None) -> Report:
    """Validate every part under PATH (root, schema folder or part file) and the root's stats."""
    try:
        loc = locate(path_or_uri, schema_name)
    except ManifestError as e:
        return Report([Problem(str(path_or_uri), str(e).split(": ", 1)[-1])], {})
    problems: list[Problem] = []
    summary: dict[str, tuple[int, int, set[str]]] = {}
    for name, files in loc.parts.items():
        schema = get_schema(name)
        rows, versions = 0, set()
        for p in files:
            try:
                found, version, _ = read_part_info(loc.fs, p)
            except ManifestError as e:
                problems.append(Problem(p, str(e).split(": ", 1)[-1]))
                continue
            if found != name:
                problems.append(Problem(p, f"holds schema {found!r} but lies under {name}/"))
                continue
            with loc.fs.open_input_file(p) as f:
                table = pq.read_table(f)
            problems.extend(validate_table(table, schema, source=p))
            rows += table.num_rows
            versions.add(version)
        summary[name] = (len(files), rows, versions)
    stats_path = f"{loc.root}/{STATS_FILE}"
    if loc.fs.get_file_info(stats_path).type == pafs.FileType.File:
        with loc.fs.open_input_stream(stats_path) as f:
            try:
                stats = json.loads(f.read().decode())
            except ValueError as e:
                problems.append(Problem(stats_path, f"not valid JSON ({e})"))
                stats = None
        if stats is not None:
            kept_schema = stats.get("kept_schema")
            kept_rows = summary[kept_schema][1] if kept_schema in summary else None
            rej_rows = summary["rejects"][1] if "rejects" in summary else None
            problems.extend(check_counts(stats, stats_path, kept_rows, rej_rows))
    return Report(problems, summary)
