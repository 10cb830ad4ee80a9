"""The job's output folder without Ray: whole-file writes, the listing record, shard states."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from curate import outputs, spill
from curate.listing import Entry, Rejected
from infra.files import atomic_write
from infra.uri import file_uri
from manifests import read_table, write_part

REPO = Path(__file__).resolve().parents[2]


def test_pure_modules_import_without_ray():
    code = "import sys, curate.merge, curate.outputs, curate.stats; print('ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_out_root_and_join():
    assert outputs.out_root("s3://bucket/cur/") == "s3://bucket/cur"
    assert outputs.out_root("runs/x") == os.path.abspath("runs/x")
    assert outputs.join("s3://bucket/cur/", "_work", "listing.json") == (
        "s3://bucket/cur/_work/listing.json"
    )
    assert outputs.join("/tmp/o", "_work", "a") == "/tmp/o/_work/a"


def test_write_bytes_makes_the_folder_and_leaves_no_temp_file(tmp_path):
    root = str(tmp_path / "out")
    target = outputs.write_bytes(root, "deep/stats.json", b"one")
    assert target == str(tmp_path / "out/deep/stats.json")
    assert outputs.write_bytes(root, "deep/stats.json", b"two") == target
    assert outputs.read_bytes(root, "deep/stats.json") == b"two"
    assert os.listdir(tmp_path / "out/deep") == ["stats.json"]
    assert outputs.read_bytes(root, "missing.json") is None


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "stats.json"
    target.write_text("old")

    def half_then_fail(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["stats.json"]


def test_write_json(tmp_path):
    outputs.write_json(str(tmp_path), "stats.json", {"inputs": 2, "reasons": {"x": 1}})
    assert json.loads((tmp_path / "stats.json").read_text()) == {"inputs": 2, "reasons": {"x": 1}}


def spilled(folder: Path, shard_size: int) -> spill.SpilledListing:
    """The job's listing of the JPEGs in ``folder`` (spilled beside it), with its fingerprint."""
    return spill.spill_listing([str(folder)], ["jpg"], str(folder) + ".parquet", shard_size)


def test_listing_record(tmp_path, listing_fingerprint):
    out, inp = str(tmp_path / "out"), tmp_path / "in"
    inp.mkdir()
    (inp / "a.jpg").write_bytes(b"a")
    (inp / "b.jpg").write_bytes(b"bb")
    entries = [Entry(file_uri(inp / "a.jpg"), 1), Entry(file_uri(inp / "b.jpg"), 2)]
    fp = spilled(inp, 8).fingerprint
    assert fp == listing_fingerprint(entries, 8)
    (inp / "a.jpg").write_bytes(b"a" * 99)  # sizes are not part of it
    assert fp == spilled(inp, 8).fingerprint
    assert fp != spilled(inp, 16).fingerprint
    (inp / "b.jpg").unlink()
    assert fp != spilled(inp, 8).fingerprint
    assert outputs.previous_listing(out) is None
    outputs.write_listing(out, fp, len(entries))
    assert outputs.previous_listing(out)["fingerprint"] == fp
    record = json.loads((tmp_path / "out" / "_work" / "listing.json").read_text())
    assert record == {"fingerprint": fp, "files": 2, "settings": None}
    outputs.write_listing(out, fp, 2, {"filters": {"max_f_number": 2.0}})
    assert outputs.previous_listing(out)["settings"] == {"filters": {"max_f_number": 2.0}}
    old, new = {"a": {"x": 1, "y": [1]}, "b": 2}, {"a": {"x": 1, "y": [2]}, "b": 3}
    assert outputs.settings_changes(old, new) == ["a.y: [1] -> [2]", "b: 2 -> 3"]


def test_shard_states(tmp_path):
    out = str(tmp_path)
    assert not outputs.shard_done(out, 0) and not outputs.has_candidates(out, 0)
    write_part([], os.path.join(out, "_work"), "real_photos", 0)
    assert not outputs.has_candidates(out, 0)  # killed before its rejects candidates: redo it
    write_part([], os.path.join(out, "_work"), "rejects", 0)
    assert outputs.has_candidates(out, 0) and not outputs.shard_done(out, 0)
    write_part([], out, "real_photos", 0)
    assert not outputs.shard_done(out, 0)  # its rejects part is still missing
    write_part([], out, "rejects", 0)
    assert outputs.shard_done(out, 0) and not outputs.shard_done(out, 1)


def test_write_summaries(tmp_path):
    kept = pa.table({"model": ["A", "B"], "f_number": [1.8, 2.0], "sharpness": [10.0, 20.0]})
    rejects = pa.table({"reason": ["too_small"], "stage": ["filter"]})
    stats = {"inputs": 3, "kept": 2, "rejected": 1, "counts_ok": True, "shards": 1, "out": "o"}
    outputs.write_summaries(str(tmp_path), stats, kept, rejects)
    png = (tmp_path / "summary.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "summary.html").read_text()
    assert "<b>2 kept</b>" in html and "CLIP scores were NOT computed" in html
    assert sorted(os.listdir(tmp_path)) == ["summary.html", "summary.png"]


def test_listing_rejects_change_the_fingerprint_and_are_written_once(tmp_path, listing_fingerprint):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.jpg").write_bytes(b"a")
    entries = [Entry(file_uri(inp / "a.jpg"), 1)]
    clean = spilled(inp, 8)  # no rejects: the URIs and the shard size alone, as before
    assert (
        clean.fingerprint == listing_fingerprint(entries, 8, []) == listing_fingerprint(entries, 8)
    )
    os.symlink(inp / "gone.jpg", inp / "dangling.jpg")  # a listing reject
    broken = spilled(inp, 8)
    assert broken.rejects and broken.fingerprint != clean.fingerprint
    assert broken.fingerprint == listing_fingerprint(entries, 8, broken.rejects)
    rejected = [Rejected("file:///loop", "link_loop", "link to /, a folder that contains it")]
    out = str(tmp_path / "out")
    assert not outputs.write_listing_rejects(out, [])
    assert outputs.write_listing_rejects(out, rejected)
    assert not outputs.write_listing_rejects(out, rejected)  # a resume keeps the part
    [row] = read_table(tmp_path / "out" / "rejects" / "part-list.parquet", "rejects").to_pylist()
    assert (row["uri"], row["stage"], row["reason"]) == ("file:///loop", "list", "link_loop")
