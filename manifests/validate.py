"""Validation of manifests on disk: every part's schema, version, nulls, value ranges and paths,
and the job's counts.

Every problem is one line, ``<file>: <what is wrong>``, so the CLI and the writers can print it
as is. The per-table checks are :func:`manifests.schemas.validate_table` (the same check
``write_part`` runs before writing); paths in path columns must be relative POSIX paths that
stay inside the manifest root, or full URIs with a scheme (:func:`manifests.uri.path_problem`).
A job's ``stats.json`` at the root must satisfy ``inputs = kept + rejected`` and agree with the
row counts of the parts. Imports ``io`` and ``schemas``; neither imports this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from manifests.io import ManifestError, locate, read_part_info
from manifests.schemas import Problem, get_schema, validate_table

STATS_FILE = "stats.json"


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
        if stats is not None and not isinstance(stats, dict):
            kind = {list: "list", str: "string"}.get(type(stats), type(stats).__name__)
            problems.append(Problem(stats_path, f"must be a JSON object, got a {kind}"))
            stats = None
        if stats is not None:
            kept_schema = stats.get("kept_schema")
            kept_rows = summary[kept_schema][1] if kept_schema in summary else None
            rej_rows = summary["rejects"][1] if "rejects" in summary else None
            problems.extend(check_counts(stats, stats_path, kept_rows, rej_rows))
    return Report(problems, summary)
