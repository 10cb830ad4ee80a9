"""The Ray job end to end on a local in-process Ray: generated photos + the real camera files."""

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from curate import job
from curate.config import load_config
from curate.listing import list_inputs
from infra.uri import file_path, file_uri
from manifests import REJECT_REASONS, read_table, validate_path

# What the default filters make of each real camera file (worked out by hand from the
# ExifTool values: crop factors, N_eq = N x crop, sizes).
CAMERA_OUTCOME = {
    "Canon_40D.jpg": "f_number_equivalent_too_high",  # f/7.1 x 1.62
    "Fujifilm_FinePix_E500.jpg": "f_number_equivalent_too_high",
    "Nikon_D70.jpg": "f_number_too_high",  # f/9
    "Panasonic_DMC-FZ30.jpg": "f_number_equivalent_too_high",
    "Pentax_K10D.jpg": "f_number_too_high",  # f/11
    "corrupted.jpg": "decode_failed",  # EXIF fine, pixels broken: caught by pass 2
    "exif-org__canon-ixus.jpg": "f_number_equivalent_too_high",
    "exif-org__ricoh-rdc5300.jpg": None,  # f/4 (APEX), sensor unresolved: kept
    "exif-org__sony-d700.jpg": "no_focal_length",
    "gps__DSCN0010.jpg": "f_number_equivalent_too_high",
    "hdr__iphone_hdr_NO.jpg": "f_number_equivalent_too_high",  # f/2.2 phone = f/16.5 eq
    "heic__IMG_5195.HEIC": "f_number_equivalent_too_high",
    "invalid__image01137.jpg": "no_exif",
    "mobile__jolla.jpg": None,
    "orientation__landscape_6.jpg": "no_f_number",
    "orientation__portrait_3.jpg": "no_f_number",
    "tests__32-lens_data.jpeg": "f_number_equivalent_too_high",  # f/5.6 x 1.5 = 8.4
    "tests__87_OSError.jpg": "f_number_too_high",  # f/29
    "xmp__no_exif.jpg": "no_f_number",  # EXIF block behind an XMP APP1, sizes only
}


def make_inputs(root, photo_writer):
    """Generated photos covering every pass-2 outcome."""
    good = [
        photo_writer(
            root / f"good/g{i:02d}.jpg",
            seed=i,
            width=768,
            height=576,
            f_number=1.4 + 0.4 * i,
            focal_mm=85.0,
            f35=85,
        )
        for i in range(6)
    ]
    photo_writer(
        root / "good/g_png.png", seed=40, width=600, height=600, f_number=2.0, focal_mm=50.0
    )
    photo_writer(
        root / "good/g_webp.webp", seed=41, width=640, height=600, f_number=2.0, focal_mm=50.0
    )
    photo_writer(
        root / "rot/portrait.jpg",
        seed=42,
        width=900,
        height=600,
        f_number=2.0,
        focal_mm=50.0,
        orientation=6,
    )
    photo_writer(
        root / "dups/near_copy.jpg",
        seed=1,
        width=700,
        height=525,
        quality=70,
        f_number=1.8,
        focal_mm=85.0,
        f35=85,
    )
    shutil.copy(good[0], root / "dups/exact_copy.jpg")
    data = good[2].read_bytes()
    (root / "bad/truncated.jpg").parent.mkdir(parents=True, exist_ok=True)
    (root / "bad/truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    (root / "bad/text.jpg").write_text("not an image")
    photo_writer(
        root / "bad/small.jpg", seed=50, width=300, height=200, f_number=2.0, focal_mm=50.0
    )
    photo_writer(
        root / "bad/slow_lens.jpg", seed=51, width=800, height=600, f_number=11.0, focal_mm=50.0
    )
    photo_writer(root / "bad/no_exif.jpg", seed=52, width=800, height=600, make=False)
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, photo_writer):
    return make_inputs(tmp_path_factory.mktemp("photos"), photo_writer)


def by_name(table):
    return {r["uri"].rsplit("/", 1)[-1]: r for r in table.to_pylist()}


def test_job_with_clip_then_resume(ray_local, inputs, camera_exif_dir, tiny_clip, tmp_path):
    cfg = load_config(
        overrides=[
            "listing.shard_size=8",
            f"clip.model={tiny_clip['model']}",
            f"clip.model_config={tiny_clip['model_config']}",
            f"clip.checkpoint={tiny_clip['checkpoint']}",
        ]
    )
    out = tmp_path / "out"
    stats = job.run([str(inputs), str(camera_exif_dir)], str(out), cfg, progress=False)

    n_inputs = 16 + 19
    assert stats["inputs"] == n_inputs and stats["ignored_by_extension"] == 2  # README, json
    assert stats["counts_ok"] and stats["kept"] + stats["rejected"] == n_inputs
    assert stats["shards"] == 5 and stats["clip"]["enabled"]
    report = validate_path(out)
    assert report.ok, [str(p) for p in report.problems]
    assert json.loads((out / "stats.json").read_text())["kept_schema"] == "real_photos"
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "CLIP scores computed" in (out / "summary.html").read_text()

    kept, rejects = by_name(read_table(out, "real_photos")), by_name(read_table(out, "rejects"))
    assert set(kept).isdisjoint(rejects) and len(kept) + len(rejects) == n_inputs
    assert set(stats["reasons"]) <= set(REJECT_REASONS)
    assert sum(stats["reasons"].values()) == stats["rejected"]

    # Real camera files: every one kept or rejected with the expected reason.
    for name, reason in CAMERA_OUTCOME.items():
        if reason is None:
            assert name in kept, name
        else:
            assert rejects[name]["reason"] == reason, (name, rejects[name])
    reference = json.loads((camera_exif_dir / "exiftool-reference.json").read_text())
    jolla = kept["mobile__jolla.jpg"]
    assert jolla["f_number"] == pytest.approx(reference["mobile__jolla.jpg"]["ExifIFD:FNumber"])
    assert (jolla["make"], jolla["width_px"], jolla["height_px"]) == ("Jolla", 3264, 2448)
    assert jolla["sensor_width_source"] == "unresolved" and jolla["f_number_equivalent"] is None
    ricoh = kept["exif-org__ricoh-rdc5300.jpg"]
    assert ricoh["f_number"] == pytest.approx(4.0, abs=0.01) and ricoh["focal_length_mm"] == 13.3

    # Generated files.
    for name in ["g00.jpg", "g_png.png", "g_webp.webp", "portrait.jpg"]:
        assert name in kept or rejects[name]["reason"] == "duplicate", name
    g3 = kept["g03.jpg"]
    assert g3["f_number"] == pytest.approx(2.6) and g3["sensor_width_mm"] == pytest.approx(36.0)
    assert g3["f_number_equivalent"] == pytest.approx(2.6) and g3["pixel_ratio"] == 768 / 36
    assert g3["clip_quality"] is not None and len(g3["clip_embedding"]) == 32
    assert 0 <= g3["clip_shallow_dof"] <= 1 and g3["bokeh_evidence"] > 1.0
    assert (kept["portrait.jpg"]["width_px"], kept["portrait.jpg"]["height_px"]) == (600, 900)
    assert rejects["truncated.jpg"]["reason"] == "decode_failed"
    assert rejects["text.jpg"]["reason"] == "unsupported_format"
    assert rejects["small.jpg"]["reason"] == "too_small"
    assert rejects["slow_lens.jpg"]["reason"] == "f_number_too_high"
    assert rejects["no_exif.jpg"]["reason"] == "no_exif"
    # Dedup: of each pair exactly one is kept and the other points at it.
    for a, b in [("g00.jpg", "exact_copy.jpg"), ("g01.jpg", "near_copy.jpg")]:
        assert (a in kept) != (b in kept), (a, b)
        dup = rejects[b] if a in kept else rejects[a]
        kept_uri = kept[a]["uri"] if a in kept else kept[b]["uri"]
        assert dup["reason"] == "duplicate" and dup["duplicate_of"] == kept_uri
        assert dup["stage"] == "dedup"
    assert "exact" in (rejects.get("exact_copy.jpg") or rejects["g00.jpg"])["detail"]

    # Resume: a re-run skips every finished shard and changes nothing.
    before = read_table(out, "real_photos").drop_columns(["clip_embedding"])
    again = job.run([str(inputs), str(camera_exif_dir)], str(out), cfg, progress=False)
    assert again["shards_skipped"] == 5 and again["timing"]["pass1"]["files"] == 0
    assert read_table(out, "real_photos").drop_columns(["clip_embedding"]).equals(before)

    # A job killed inside shard 1 (no final parts, no candidates) redoes only that shard.
    for folder in ["real_photos", "rejects", "_work/real_photos", "_work/rejects"]:
        (out / folder / "part-00001.parquet").unlink()
    third = job.run([str(inputs), str(camera_exif_dir)], str(out), cfg, progress=False)
    assert third["shards_skipped"] == 4 and third["timing"]["pass1"]["files"] == 8
    assert third["kept"] == stats["kept"] and third["reasons"] == stats["reasons"]
    assert validate_path(out).ok


def test_job_without_clip_says_so(ray_local, photo_writer, tmp_path):
    for i in range(3):
        photo_writer(
            tmp_path / f"in/p{i}.jpg",
            seed=100 + i,
            width=640,
            height=600,
            f_number=2.0,
            focal_mm=50.0,
        )
    out = tmp_path / "out"
    stats = job.run([str(tmp_path / "in")], str(out), load_config(), progress=False)
    assert stats["kept"] == 3 and not stats["clip"]["enabled"]
    kept = read_table(out, "real_photos")
    assert kept.column("clip_quality").null_count == 3
    assert kept.column("clip_embedding").null_count == 3
    html = (out / "summary.html").read_text()
    assert "CLIP scores were NOT computed: no checkpoint configured" in html
    assert "CLIP scores were NOT computed" in job.text_summary(stats)


def test_changed_listing_is_refused(ray_local, photo_writer, tmp_path):
    photo_writer(tmp_path / "in/a.jpg", seed=1, width=640, height=600)
    job.run([str(tmp_path / "in")], str(tmp_path / "out"), load_config(), progress=False)
    photo_writer(tmp_path / "in/b.jpg", seed=2, width=640, height=600)
    with pytest.raises(job.JobError, match="different listing"):
        job.run([str(tmp_path / "in")], str(tmp_path / "out"), load_config(), progress=False)


def test_a_resume_with_other_filter_settings_is_refused(ray_local, photo_writer, tmp_path):
    """Before: the rerun skipped every finished shard, so stats.json said f/5.3 while the rows
    had been filtered at f/2. Settings that only change how the job runs may differ."""
    for i, n in enumerate((1.8, 4.0)):
        photo_writer(tmp_path / f"in/p{i}.jpg", seed=i, width=640, height=600, f_number=n)
    inp, out = [str(tmp_path / "in")], str(tmp_path / "out")
    first = load_config(overrides=["filters.max_f_number=2.0"])
    assert job.run(inp, out, first, progress=False)["kept"] == 1
    other = load_config(overrides=["filters.max_f_number=5.3"])
    with pytest.raises(job.JobError, match=r"filters.max_f_number: 2.0 -> 5.3"):
        job.run(inp, out, other, progress=False)
    same = load_config(overrides=["filters.max_f_number=2.0", "clip.batch_size=7"])
    assert job.run(inp, out, same, progress=False)["kept"] == 1


def test_a_kill_between_a_shards_two_final_parts_resumes(ray_local, photo_writer, tmp_path):
    for i, n in enumerate((1.8, 2.0, 11.0)):
        photo_writer(tmp_path / f"in/p{i}.jpg", seed=i, width=640, height=600, f_number=n)
    inp, out = [str(tmp_path / "in")], tmp_path / "out"
    first = job.run(inp, str(out), load_config(), progress=False)
    kept, rejects = read_table(out, "real_photos"), read_table(out, "rejects")
    for f in (out / "rejects").glob("part-*"):  # killed after the first part was written
        f.unlink()
    again = job.run(inp, str(out), load_config(), progress=False)
    assert (again["kept"], again["rejected"]) == (first["kept"], first["rejected"]) == (2, 1)
    assert read_table(out, "real_photos").equals(kept)
    assert read_table(out, "rejects").column("uri").equals(rejects.column("uri"))


def test_a_kill_between_a_shards_two_candidate_parts_resumes(ray_local, photo_writer, tmp_path):
    for i, n in enumerate((1.8, 2.0, 11.0)):
        photo_writer(tmp_path / f"in/p{i}.jpg", seed=i, width=640, height=600, f_number=n)
    inp, out = [str(tmp_path / "in")], tmp_path / "out"
    first = job.run(inp, str(out), load_config(), progress=False)
    kept = read_table(out, "real_photos")
    for name in ("real_photos", "rejects", "_work/rejects"):  # killed in pass 2's write
        for f in (out / name).glob("part-*"):
            f.unlink()
    again = job.run(inp, str(out), load_config(), progress=False)
    assert (again["kept"], again["rejected"]) == (first["kept"], first["rejected"]) == (2, 1)
    assert read_table(out, "real_photos").column("uri").equals(kept.column("uri"))


def test_a_resume_accepts_an_out_listed_in_memory_and_rebuilds_the_spill(
    ray_local, photo_writer, tmp_path, listing_fingerprint
):
    """The job spills its sorted listing (OUT/_work/listing.parquet, one row group per shard);
    its fingerprint is the in-memory listing's, so an OUT written before the spill resumes."""
    for i, n in enumerate((1.8, 2.0, 11.0)):
        photo_writer(tmp_path / f"in/p{i}.jpg", seed=i, width=640, height=600, f_number=n)
    inp, out = [str(tmp_path / "in")], tmp_path / "out"
    cfg = load_config(overrides=["listing.shard_size=2"])
    first = job.run(inp, str(out), cfg, progress=False)
    listing = list_inputs(inp, cfg.listing.extensions)
    record = json.loads((out / "_work/listing.json").read_text())
    assert record["fingerprint"] == listing_fingerprint(listing.entries, 2, listing.rejects)
    (out / "_work/listing.parquet").unlink()
    for name in ("rejects", "_work/rejects"):  # shard 1 killed in pass 2: redone from pass 1
        (out / name / "part-00001.parquet").unlink()
    again = job.run(inp, str(out), cfg, progress=False)
    assert (again["kept"], again["rejected"], again["shards_skipped"]) == (2, 1, 1)
    assert (first["kept"], first["rejected"]) == (2, 1)
    assert pq.ParquetFile(out / "_work/listing.parquet").num_row_groups == again["shards"] == 2
    assert not list((out / "_work").glob(".listing-*"))


# ---- links, special files and odd names in the input (issue 14) -------------------------------

ODD_NAMES = [b"caf\xe9.jpg", b"%41.jpg", b"a#1.jpg", b"q?x=1.jpg", b"sp ace.jpg", b"new\nline.jpg"]


def hostile_folder(root, outside, photo_writer):
    """Odd names, links of every kind and a FIFO, beside plain photos. Returns the real paths
    (bytes) of the photos that must be kept, by name."""
    photos = {}
    for i, name in enumerate([*ODD_NAMES, b"plain.jpg"]):
        tmp = photo_writer(root / f"tmp{i}.jpg", seed=300 + i, width=640, height=600, f_number=2.0)
        path = os.fsencode(root) + b"/" + name
        os.rename(tmp, path)
        photos[name] = path
    os.link(root / "plain.jpg", root / "hard.jpg")  # another name, an exact duplicate
    os.symlink("plain.jpg", root / "alias.jpg")  # the same file: one input
    os.symlink(".", root / "loop")
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "up")
    os.symlink("/etc/passwd", root / "passwd.jpg")
    photo_writer(outside / "elsewhere.jpg", seed=320, width=640, height=600, f_number=2.0)
    os.symlink(outside, root / "elsewhere")
    os.symlink(outside / "elsewhere.jpg", root / "sub" / "outside.jpg")
    os.symlink(root / "gone.jpg", root / "dangling.jpg")
    os.mkfifo(root / "pipe.jpg")
    return photos


LIST_REJECTS = {
    "loop": "link_loop",
    "up": "link_loop",
    "passwd.jpg": "link_outside_root",
    "elsewhere": "link_outside_root",
    "outside.jpg": "link_outside_root",
    "dangling.jpg": "broken_link",
    "pipe.jpg": "not_a_file",
}


def test_links_special_files_and_odd_names(ray_local, photo_writer, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "outside").mkdir()
    photos = hostile_folder(tmp_path / "in", tmp_path / "outside", photo_writer)
    inp, out = [str(tmp_path / "in")], tmp_path / "out"
    cfg = load_config(overrides=["listing.shard_size=4"])
    stats = job.run(inp, str(out), cfg, progress=False)

    n_inputs = len(photos) + 1 + len(LIST_REJECTS)  # + hard.jpg; alias.jpg is plain.jpg
    assert stats["inputs"] == n_inputs and stats["counts_ok"]
    assert (stats["kept"], stats["rejected"]) == (len(photos), 1 + len(LIST_REJECTS))
    assert stats["stages"]["list"] == len(LIST_REJECTS)
    assert "(7 by the listing: links, special files)" in job.text_summary(stats)
    assert validate_path(out, files=True).ok

    rejects = read_table(out, "rejects").to_pylist()
    listed = {r["uri"].rsplit("/", 1)[-1]: r for r in rejects if r["stage"] == "list"}
    assert {k: r["reason"] for k, r in listed.items()} == LIST_REJECTS
    assert listed["passwd.jpg"]["uri"] == file_uri(tmp_path / "in" / "passwd.jpg")
    [dup] = [r for r in rejects if r["stage"] != "list"]  # plain.jpg and hard.jpg: one kept
    assert dup["reason"] == "duplicate" and "exact" in dup["detail"]
    kept = read_table(out, "real_photos").column("uri").to_pylist()
    both = {photos[b"plain.jpg"], os.fsencode(tmp_path / "in" / "hard.jpg")}
    assert {os.fsencode(file_path(u)) for u in [*kept, dup["uri"]]} == {*photos.values(), *both}
    assert {os.fsencode(file_path(u)) for u in [dup["uri"], dup["duplicate_of"]]} == both
    assert all(u.isascii() and u.isprintable() for u in kept)

    # The trainer reads each kept photo through its URI: the same bytes as the file's own name.
    from train.data.build import load_rows, read_bytes

    rows = load_rows([str(out)], "real_photos")
    for row in rows:
        with open(os.fsencode(file_path(row["uri"])), "rb") as f:
            assert read_bytes(row["uri"], row["_root"]) == f.read()
    by_path = {os.fsencode(file_path(r["uri"])): r for r in rows}
    with open(photos[b"%41.jpg"], "rb") as f:
        assert read_bytes(by_path[photos[b"%41.jpg"]]["uri"]) == f.read()

    # Resume: the listing's rejects are written once, never again; counts unchanged.
    again = job.run(inp, str(out), cfg, progress=False)
    assert again["shards_skipped"] == again["shards"] == 2
    assert (again["inputs"], again["kept"], again["rejected"]) == (
        stats["inputs"],
        stats["kept"],
        stats["rejected"],
    )
    assert read_table(out, "rejects").num_rows == len(rejects)
    (out / "rejects" / "part-list.parquet").unlink()  # killed before it was written
    third = job.run(inp, str(out), cfg, progress=False)
    assert third["rejected"] == stats["rejected"] and validate_path(out).ok
    # A link fixed in between is another listing: refused, like an added file.
    (tmp_path / "in" / "dangling.jpg").unlink()
    with pytest.raises(job.JobError, match="different listing"):
        job.run(inp, str(out), cfg, progress=False)
