"""Command line for manifests: validate, show, stats, and a small example writer.

Examples:
  python -m manifests validate runs/synth            # a root: every schema folder under it
  python -m manifests validate runs/curate/rejects   # one schema folder
  python -m manifests validate --files runs/synth    # and every file the rows name
  python -m manifests show runs/curate/real_photos/part-00000.parquet
  python -m manifests show runs/synth/synthetic_pairs  # also renders per aperture shape
  python -m manifests stats s3://bucket/curate/real_photos
  python -m manifests example --out /tmp/manifest-example
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from manifests.example import write_example
from manifests.io import ManifestError, locate, read_part_info, read_table
from manifests.validate import validate_path


def _cmd_validate(a) -> int:
    report = validate_path(a.path, a.schema, files=a.files)
    for p in report.problems:
        print(f"invalid: {p}")
    for name, (parts, rows, versions) in report.summary.items():
        v = ",".join(sorted(versions)) or "?"
        print(f"{name}: {parts} part(s), {rows} row(s), schema v{v}")
    if report.ok:
        print(f"ok: {a.path}")
        return 0
    print(f"{len(report.problems)} problem(s) in {a.path}")
    return 1


def _one_schema(a):
    loc = locate(a.path, a.schema)
    if len(loc.parts) != 1:
        raise ManifestError(f"{a.path}: holds {', '.join(loc.parts)}; pick one with --schema")
    ((name, files),) = loc.parts.items()
    return loc, name, files


def _cmd_show(a) -> int:
    loc, name, files = _one_schema(a)
    _, version, created_by = read_part_info(loc.fs, files[0]) if files else (name, "?", "?")
    table = read_table(a.path, name)
    print(f"schema {name} v{version}, created by {created_by}")
    print(f"{len(files)} part(s), {table.num_rows} row(s), root {loc.root}")
    if name == "synthetic_pairs" and table.num_rows:
        print(f"apertures: {_aperture_counts(table.column('aperture_shape_id').to_pylist())}")
    print(table.schema.remove_metadata().to_string(show_field_metadata=False))
    import pandas as pd

    head = table.slice(0, a.rows)
    for i, field in enumerate(head.schema):  # lists shown short: count and first items
        if pa.types.is_list(field.type):
            shown = [_short_list(v) for v in head.column(i).to_pylist()]
            head = head.set_column(i, field.name, pa.array(shown, pa.string()))
    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(head.to_pandas().T.to_string())
    if "source_photos" in table.column_names:
        _print_provenance(loc, table)
    return 0


def _aperture_counts(shape_ids: list) -> str:
    """``cycles 120, polygon3 14, star5 12``: renders per aperture shape, whatever its rotation
    (the label before ``@``); ``cycles`` (Cycles' own round or bladed aperture, a null id) first,
    then the shapes, most renders first."""
    counts = Counter("cycles" if s is None else s.partition("@")[0] for s in shape_ids)
    order = sorted(counts, key=lambda k: (k != "cycles", -counts[k], k))
    return ", ".join(f"{k} {counts[k]}" for k in order)


def _short_list(values) -> str | None:
    if values is None:
        return None
    items = [v[:12] if isinstance(v, str) else str(v) for v in values[:2]]
    return f"[{len(values)}] " + ", ".join(items) + (", ..." if len(values) > 2 else "")


def _print_provenance(loc, table: pa.Table) -> None:
    """The source photos of a synthetic set: each photo's SHA-256 with the number of scenes
    that use it, and where it was read from when the render root keeps its ``pool.json``."""
    scenes: dict[str, set] = {}
    for sid, photos in zip(
        table.column("scene_id").to_pylist(), table.column("source_photos").to_pylist(), strict=True
    ):
        for pid in photos or ():
            scenes.setdefault(pid, set()).add(sid)
    where = {}
    try:
        with loc.fs.open_input_stream(f"{loc.root}/pool.json") as f:
            index = json.loads(f.read().decode())
        where = {p["photo_id"]: p["uri"] for p in index.get("photo_list", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    print(f"source photos: {len(scenes)} (SHA-256 of the file, scenes using it, source)")
    for pid, ids in sorted(scenes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"  {pid}  {len(ids):>5} scene(s)  {where.get(pid, '(pool.json not found)')}")


def _summary(col: pa.ChunkedArray) -> str:
    nulls = col.null_count
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        v = col.drop_null().to_numpy(zero_copy_only=False).astype(np.float64)
        if len(v) == 0:
            return f"nulls {nulls}"
        return (
            f"nulls {nulls}  min {v.min():.6g}  mean {v.mean():.6g}  "
            f"median {np.median(v):.6g}  max {v.max():.6g}"
        )
    if pa.types.is_string(t):
        counts = pc.value_counts(col.drop_null()).to_pylist()
        counts.sort(key=lambda d: -d["counts"])
        top = ", ".join(f"{d['values']!r}×{d['counts']}" for d in counts[:5])
        return f"nulls {nulls}  distinct {len(counts)}  top {top}"
    return f"nulls {nulls}  type {t}"


def _cmd_stats(a) -> int:
    _, name, _ = _one_schema(a)
    table = read_table(a.path, name)
    print(f"{name}: {table.num_rows} row(s)")
    width = max(len(n) for n in table.column_names)
    for n in table.column_names:
        print(f"  {n:<{width}}  {_summary(table.column(n))}")
    return 0


def _cmd_example(a) -> int:
    written = write_example(a.out)
    print(json.dumps(written, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m manifests",
        description="Inspect and validate refocus manifests (local paths or s3:// / gs:// URIs).",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("validate", "check schema, version, values, paths and count identity"),
        ("show", "schema, row count and the first rows"),
        ("stats", "per-column summary"),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("path", help="manifest root, schema folder or part file")
        s.add_argument("--schema", help="only this schema (synthetic_pairs, real_photos, rejects)")
        if name == "validate":
            s.add_argument(
                "--files",
                action="store_true",
                help="also check that every file the rows name is a readable file (relative "
                "paths: inside the root, links followed; file:// URIs: anywhere)",
            )
        if name == "show":
            s.add_argument("--rows", type=int, default=3, help="rows to print (default 3)")
    e = sub.add_parser("example", help="write a small valid manifest of every schema")
    e.add_argument("--out", required=True, help="root folder to write")
    a = p.parse_args(argv)
    try:
        return {
            "validate": _cmd_validate,
            "show": _cmd_show,
            "stats": _cmd_stats,
            "example": _cmd_example,
        }[a.command](a)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
