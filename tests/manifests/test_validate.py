"""Validation refuses each bad case with a one-line reason naming the file."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from manifests import (
    SCHEMAS,
    ManifestError,
    check_counts,
    list_parts,
    read_table,
    validate_path,
    validate_table,
    write_part,
)
from manifests.example import real_photo_rows, reject_rows, synthetic_rows, write_example


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "manifests", *args], capture_output=True, text=True, timeout=120
    )


def one_line_problems(report):
    assert not report.ok
    for p in report.problems:
        assert "\n" not in str(p)
    return [str(p) for p in report.problems]


def test_example_manifest_is_valid_and_cli_accepts_it(tmp_path):
    write_example(str(tmp_path))
    assert validate_path(tmp_path).ok
    p = cli("validate", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"ok: {tmp_path}" in p.stdout and "synthetic_pairs: 1 part(s), 6 row(s)" in p.stdout


def _rewrite_metadata(path, **changes):
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta.update({k.encode(): v.encode() for k, v in changes.items()})
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_unknown_major_version_is_refused_naming_file_and_both_versions(tmp_path):
    path = write_part(synthetic_rows(1, 1), tmp_path, "synthetic_pairs", 0)
    _rewrite_metadata(path, **{"refocus.schema_version": "2.0"})
    [msg] = one_line_problems(validate_path(tmp_path))
    assert path in msg and "2.0" in msg and f"supports {SCHEMAS['synthetic_pairs'].version}" in msg
    with pytest.raises(ManifestError, match="version 2.0"):
        read_table(tmp_path, "synthetic_pairs")
    p = cli("validate", str(tmp_path))
    assert p.returncode == 1 and "invalid:" in p.stdout and "2.0" in p.stdout


def test_newer_minor_version_is_read(tmp_path):
    path = write_part(reject_rows(), tmp_path, "rejects", 0)
    _rewrite_metadata(path, **{"refocus.schema_version": "1.7"})
    assert validate_path(tmp_path).ok and read_table(tmp_path, "rejects").num_rows == 1


def test_a_parquet_file_without_our_metadata_is_refused(tmp_path):
    (tmp_path / "rejects").mkdir()
    pq.write_table(pa.Table.from_pylist(reject_rows()), tmp_path / "rejects" / "part-00000.parquet")
    [msg] = one_line_problems(validate_path(tmp_path / "rejects" / "part-00000.parquet"))
    assert "part-00000.parquet" in msg and "no refocus schema" in msg


@pytest.mark.parametrize(
    "value,why",
    [
        ("../elsewhere/aif.png", "escapes the manifest root"),
        ("scenes/../../aif.png", "escapes the manifest root"),
        ("/etc/passwd", "absolute"),
        ("C:\\data\\aif.png", "absolute"),
    ],
)
def test_path_escaping_the_root_is_refused(tmp_path, value, why):
    rows = synthetic_rows(1, 2)
    rows[1]["aif_path"] = value
    with pytest.raises(ManifestError, match=why):  # the writer refuses it, nothing is written
        write_part(rows, tmp_path, "synthetic_pairs", 0)
    assert list_parts(tmp_path, "synthetic_pairs") == {}
    write_part(rows, tmp_path, "synthetic_pairs", 0, validate=False)
    [msg] = one_line_problems(validate_path(tmp_path))
    assert "'aif_path' row 1" in msg and why in msg and "part-00000.parquet" in msg


def test_full_uris_and_inner_dotdot_are_accepted(tmp_path):
    rows = synthetic_rows(1, 3)
    rows[0]["aif_path"] = "s3://bucket/renders/aif.png"
    rows[1]["aif_path"] = "scenes/000000/../000000/aif.png"
    write_part(rows, tmp_path, "synthetic_pairs", 0)
    assert validate_path(tmp_path).ok


def test_missing_required_column_is_refused(tmp_path):
    table = pa.Table.from_pylist(real_photo_rows(), schema=SCHEMAS["real_photos"].arrow)
    table = table.drop_columns(["sha256"])
    with pytest.raises(ManifestError, match="missing required column"):
        write_part(table, tmp_path, "real_photos", 0)
    os.makedirs(tmp_path / "real_photos")
    pq.write_table(
        table.replace_schema_metadata(
            {"refocus.schema": "real_photos", "refocus.schema_version": "1.0"}
        ),
        tmp_path / "real_photos" / "part-00000.parquet",
    )
    [msg] = one_line_problems(validate_path(tmp_path))
    assert "missing required column 'sha256'" in msg


@pytest.mark.parametrize(
    "schema,column,value,why",
    [
        ("synthetic_pairs", "f_number", -1.0, "must be within (0, 1024]"),
        ("synthetic_pairs", "focal_length_mm", 0.0, "must be within (0, 10000]"),
        # issue 28: finite but absurd values validated and trained before they had a bound
        ("synthetic_pairs", "k_genrefocus", 1e30, "must be within [0, 1e+06]"),
        ("synthetic_pairs", "disp_focus", 1e30, "must be within (0, 1e+06]"),
        ("synthetic_pairs", "width_px", 100000, "must be within [8, 16384]"),
        ("synthetic_pairs", "width_px", 1, "must be within [8, 16384]"),
        ("synthetic_pairs", "height_px", 1, "must be within [8, 16384]"),
        ("real_photos", "f_number", 1e30, "must be within (0, 1024]"),
        ("synthetic_pairs", "sensor_width_mm", 2.6, "within [4, 60]"),
        ("synthetic_pairs", "aperture_blades", 2, "blades"),
        ("synthetic_pairs", "split", "holdout", "one of train, val, test"),
        ("real_photos", "sensor_width_mm", 75.0, "within [4, 60]"),
        ("real_photos", "sha256", "xyz", "hex"),
        ("real_photos", "sensor_width_source", "guess", "one of crop_35mm"),
        ("rejects", "reason", "did_not_like_it", "one of unreadable"),
        ("synthetic_pairs", "k_genrefocus", float("inf"), "1 non-finite value(s)"),
        ("synthetic_pairs", "disp_focus", float("nan"), "1 non-finite value(s)"),
        ("synthetic_pairs", "f_number", float("inf"), "(must be finite), first at row 5: inf"),
        ("real_photos", "sharpness", float("-inf"), "first at row 0: -inf"),
    ],
)
def test_out_of_range_values_are_refused(schema, column, value, why):
    rows = {
        "synthetic_pairs": synthetic_rows,
        "real_photos": real_photo_rows,
        "rejects": reject_rows,
    }[schema]()
    rows[-1][column] = value
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[schema].arrow)
    problems = validate_table(table, schema, source="x.parquet")
    assert len(problems) == 1
    msg = str(problems[0])
    assert msg.startswith("x.parquet: ") and column in msg and why in msg


def test_null_in_a_required_column_is_refused(tmp_path):
    rows = synthetic_rows(1, 2)
    rows[1]["spec_hash"] = None
    with pytest.raises(ManifestError, match="'spec_hash': 1 null value"):
        write_part(rows, tmp_path, "synthetic_pairs", 0)


def test_nullable_columns_accept_nulls(tmp_path):
    row = real_photo_rows()[0]
    for k in ("sensor_width_mm", "crop_factor", "f_number_equivalent", "pixel_ratio", "make"):
        row[k] = None
    row["sensor_width_source"] = "unresolved"
    write_part([row], tmp_path, "real_photos", 0)
    assert validate_path(tmp_path).ok


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_cli_refuses_non_finite_labels(tmp_path, value):
    rows = synthetic_rows(1, 2)
    rows[1]["k_genrefocus"] = float(value)
    with pytest.raises(ManifestError, match="non-finite"):
        write_part(rows, tmp_path, "synthetic_pairs", 0)
    write_part(rows, tmp_path, "synthetic_pairs", 0, validate=False)
    p = cli("validate", str(tmp_path))
    assert p.returncode == 1, p.stdout
    assert f"'k_genrefocus': 1 non-finite value(s) (must be finite), first at row 1: {value}" in (
        p.stdout
    )


def test_files_are_checked_on_request(tmp_path):
    """``validate --files``: every file a path column names must be a readable file inside the
    root (links followed); the example manifest names files it does not ship."""
    write_example(str(tmp_path))
    assert validate_path(tmp_path).ok
    report = validate_path(tmp_path, files=True)
    msgs = one_line_problems(report)
    assert len(msgs) == 7  # one per column: 6 of synthetic_pairs, real_photos' uri; no rejects
    assert any(
        f"'aif_path' row 0: {tmp_path}/scenes/000000/aif.png: no such file" in m for m in msgs
    )
    assert any(
        "'uri' row 0: " in m and "photos/nikon_d70_portrait.jpg: no such file" in m for m in msgs
    )
    assert any(f"'aperture_kernel_path' row 3: {tmp_path}/scenes/000001/" in m for m in msgs)
    p = cli("validate", "--files", str(tmp_path))
    assert p.returncode == 1 and "7 problem(s)" in p.stdout
    files = ("aif_path", "depth_path", "bokeh_path", "coc_path", "bokeh_jpeg_path")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    for row in synthetic_rows():
        for col in files:  # images and maps are opened: their headers must match the row
            path = tmp_path / row[col]
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".npy":
                np.save(path, np.ones((row["height_px"], row["width_px"]), np.float32))
            else:
                Image.new("RGB", (row["width_px"], row["height_px"])).save(path)
    # the kernels of the shaped renders (scene 1) are missing; null paths name no file
    msgs = one_line_problems(validate_path(tmp_path, files=True))
    assert len(msgs) == 2 and "'aperture_kernel_path' row 3" in msgs[0]
    for row in synthetic_rows():
        if row["aperture_kernel_path"] is not None:
            (tmp_path / row["aperture_kernel_path"]).write_bytes(png.getvalue())
    (tmp_path / "photos").mkdir()
    os.symlink("/etc/hostname", tmp_path / "photos" / "nikon_d70_portrait.jpg")
    [msg] = one_line_problems(validate_path(tmp_path, files=True))
    assert "resolves outside the manifest root" in msg and "(to /etc/hostname)" in msg


def test_count_identity():
    assert check_counts({"inputs": 5, "kept": 3, "rejected": 2}, "stats.json") == []
    [p] = check_counts({"inputs": 6, "kept": 3, "rejected": 2}, "stats.json")
    assert "inputs 6 != kept 3 + rejected 2" in str(p) and "+1" in str(p)
    [p] = check_counts({"inputs": 5, "kept": 3, "rejected": 2}, "stats.json", kept_rows=4)
    assert "manifest has 4 rows" in str(p)


def test_stats_json_at_the_root_is_checked_against_the_parts(tmp_path):
    write_example(str(tmp_path))
    (tmp_path / "stats.json").write_text(
        json.dumps({"inputs": 3, "kept": 1, "rejected": 1, "kept_schema": "real_photos"})
    )
    [msg] = one_line_problems(validate_path(tmp_path))
    assert "stats.json" in msg and "unaccounted" in msg
    (tmp_path / "stats.json").write_text(
        json.dumps({"inputs": 3, "kept": 1, "rejected": 2, "kept_schema": "real_photos"})
    )
    [msg] = one_line_problems(validate_path(tmp_path))
    assert "rejects has 1 rows" in msg


def test_missing_path_and_empty_folder_give_one_line(tmp_path):
    p = cli("validate", str(tmp_path / "nope"))
    assert p.returncode == 1 and "no such file or folder" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    p = cli("validate", str(tmp_path))
    assert p.returncode == 1 and "no manifest parts here" in p.stdout


def test_show_and_stats_cli(tmp_path):
    write_example(str(tmp_path))
    p = cli("show", str(tmp_path / "synthetic_pairs"), "--rows", "2")
    assert p.returncode == 0 and "6 row(s)" in p.stdout and "k_genrefocus" in p.stdout
    assert "\napertures: cycles 3, heart 1, polygon3 1, star5 1\n" in p.stdout
    p = cli("stats", str(tmp_path), "--schema", "synthetic_pairs")
    assert p.returncode == 0 and "f_number" in p.stdout and "max 4" in p.stdout
    p = cli("show", str(tmp_path))
    assert p.returncode == 1 and "pick one with --schema" in p.stderr


WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from manifests import write_part
    from manifests.example import reject_rows
    import pyarrow.parquet as pq

    class SlowWriter(pq.ParquetWriter):  # a writer that takes its time, batch by batch
        def write_batch(self, batch, *args, **kwargs):
            super().write_batch(batch, *args, **kwargs)
            print("batch", flush=True)
            time.sleep(0.2)

    pq.ParquetWriter = SlowWriter
    table = pa.Table.from_pylist([reject_rows()[0]] * 64)
    write_part(table, sys.argv[1], "rejects", 0, row_group_size=8)
    print("done", flush=True)
    """
)


def test_interrupted_write_leaves_no_visible_partial_file(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    folder = tmp_path / "rejects"
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "batch" or proc.poll() is not None:
            break
    assert line.strip() == "batch", "the writer subprocess did not start writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = os.listdir(folder)
    assert leftovers and all(n.startswith(".part-00000.parquet.tmp-") for n in leftovers)
    assert list_parts(tmp_path, "rejects") == {}  # nothing visible to readers
    # A re-run writes the part and clears the dead writer's temp file.
    write_part(reject_rows(), tmp_path, "rejects", 0)
    assert os.listdir(folder) == ["part-00000.parquet"]
    assert validate_path(tmp_path).ok


def test_show_counts_renders_per_aperture_shape_and_a_1_2_part_as_cycles(tmp_path):
    rows = synthetic_rows(n_scenes=5, renders_per_scene=3)  # scenes 1 and 3 shaped
    rows[3]["aperture_shape_id"] = "star5@-7.5"  # polygon3 -> star5 at another rotation
    path = write_part(rows, tmp_path, "synthetic_pairs", 0)
    p = cli("show", str(tmp_path / "synthetic_pairs"), "--rows", "1")
    assert p.returncode == 0, p.stderr
    assert "apertures: cycles 9, star5 3, heart 2, polygon3 1" in p.stdout
    old = pq.read_table(path).drop_columns(["aperture_kernel_path"])
    shape_ids = old.column_names.index("aperture_shape_id")
    old = old.set_column(shape_ids, "aperture_shape_id", pa.nulls(old.num_rows, pa.string()))
    meta = {**old.schema.metadata, b"refocus.schema_version": b"1.2"}
    pq.write_table(old.replace_schema_metadata(meta), path)
    p = cli("show", str(tmp_path / "synthetic_pairs"), "--rows", "1")
    assert p.returncode == 0 and "schema synthetic_pairs v1.2" in p.stdout, p.stderr
    assert "apertures: cycles 15\n" in p.stdout
