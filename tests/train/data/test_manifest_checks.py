"""The trainer reads manifests only through validation: paths that leave the root (``..``,
absolute, links), NaN and inf labels, a missing column and a missing file are one-line errors.

Tiny manifests written by hand with ``manifests.write_part`` (``validate=False`` for the bad
ones, as a careless or hostile writer would) over 16² PNG and ``.npy`` files; no Blender.
"""

import math
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from manifests import ManifestError, validate_path, write_part
from manifests.example import real_photo_rows, synthetic_rows
from train.data.build import build_sample, load_rows, read_bytes
from train.data.config import DataConfig

SIZE_PX = 16


def _png(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((SIZE_PX, SIZE_PX, 3), value, np.uint8)).save(path)


def _files_for(root, row: dict) -> None:
    """Every file a synthetic_pairs row names, tiny and real."""
    _png(root / row["aif_path"], 100)
    _png(root / row["bokeh_path"], 120)
    Image.open(root / row["bokeh_path"]).save(root / row["bokeh_jpeg_path"])
    np.save(root / row["depth_path"], np.full((SIZE_PX, SIZE_PX), 2.0, np.float32))
    np.save(root / row["coc_path"], np.zeros((SIZE_PX, SIZE_PX), np.float32))


def pairs(root, **change) -> str:
    """A two-row synthetic_pairs manifest under ``root`` whose row 1 gets ``change``."""
    rows = synthetic_rows(1, 2)
    for row in rows:
        row.update(width_px=SIZE_PX, height_px=SIZE_PX)
        _files_for(root, row)
    rows[1].update(change)
    write_part(rows, root, "synthetic_pairs", 0, validate=False)
    return str(root)


def refused(root, *needles: str) -> str:
    """The trainer's reader refuses ``root`` with one line holding every needle."""
    with pytest.raises(ManifestError) as e:
        load_rows([root], "synthetic_pairs")
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in needles), msg
    return msg


def test_a_valid_tiny_manifest_is_read_and_built(tmp_path):
    rows = load_rows([pairs(tmp_path / "m")], "synthetic_pairs")
    assert [r["_root"] for r in rows] == [str(tmp_path / "m")] * 2
    sample = build_sample(rows[1], DataConfig(task="bokeh", resolution_px=16), None, False)
    assert sample["target"].shape == (3, 16, 16) and math.isfinite(sample["k"])


def test_a_dotdot_path_is_refused_though_the_file_exists(tmp_path):
    _png(tmp_path / "outside" / "x.png", 7)
    root = pairs(tmp_path / "m", aif_path="../outside/x.png")
    refused(root, "part-00000.parquet", "'aif_path' row 1", "'../outside/x.png'", "escapes")
    assert not validate_path(root).ok


@pytest.mark.parametrize("column", ["aif_path", "depth_path"])
def test_an_absolute_path_outside_the_root_is_refused(tmp_path, column):
    root = pairs(tmp_path / "m", **{column: "/etc/passwd"})
    refused(root, f"'{column}' row 1", "'/etc/passwd'", "absolute")
    assert not validate_path(root).ok


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_link_that_leaves_the_root_is_refused(tmp_path, link):
    """A relative path that stays in the root as text but resolves outside through a link
    (to the file, or to a folder on the way) is refused; the plain checks cannot see it."""
    outside = tmp_path / "outside"
    _png(outside / "aif.png", 7)
    root = tmp_path / "m"
    pairs(root)
    if link == "file":
        os.unlink(root / "scenes/000000/aif.png")
        os.symlink(outside / "aif.png", root / "scenes/000000/aif.png")
    else:
        os.rename(root / "scenes/000000/aif.png", outside / "moved.png")
        os.symlink(outside, root / "scenes/linked")
        rows = synthetic_rows(1, 2)
        for r in rows:
            r.update(width_px=SIZE_PX, height_px=SIZE_PX, aif_path="scenes/linked/aif.png")
        write_part(rows, root, "synthetic_pairs", 0)
    msg = refused(str(root), "'aif_path' row 0", "resolves outside the manifest root")
    assert f"(to {outside / 'aif.png'})" in msg
    assert validate_path(root).ok  # the values are fine ...
    [p] = validate_path(root, files=True).problems  # ... the files are not
    assert "resolves outside the manifest root" in str(p)


def test_a_link_inside_the_root_is_followed(tmp_path):
    root = tmp_path / "m"
    pairs(root)
    os.rename(root / "scenes/000000/aif.png", root / "scenes/real_aif.png")
    os.symlink("../real_aif.png", root / "scenes/000000/aif.png")
    assert len(load_rows([str(root)], "synthetic_pairs")) == 2


@pytest.mark.parametrize("column", ["k_genrefocus", "disp_focus"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_and_inf_labels_are_refused(tmp_path, column, value):
    root = pairs(tmp_path / "m", **{column: value})
    msg = refused(root, f"column {column!r}: 1 non-finite value(s)", "first at row 1")
    assert msg.split("first at row 1: ")[1].startswith(repr(value))
    [p] = validate_path(root).problems
    assert "non-finite" in str(p)


def test_a_missing_column_is_refused(tmp_path):
    root = tmp_path / "m"
    pairs(root)
    part = root / "synthetic_pairs" / "part-00000.parquet"
    table = pq.read_table(part)
    pq.write_table(table.drop_columns(["k_genrefocus"]), part)
    refused(str(root), str(part), "missing required column 'k_genrefocus'")


def test_a_folder_without_parts_is_refused(tmp_path):
    refused(str(tmp_path), f"{tmp_path}: no synthetic_pairs parts here")


def test_a_missing_image_file_is_refused_naming_it(tmp_path):
    root = tmp_path / "m"
    pairs(root)
    os.unlink(root / "scenes/000000/dof_01.png")
    refused(str(root), f"{root}/scenes/000000/dof_01.png: no such file", "'bokeh_path' row 1")


def test_a_folder_or_a_dangling_link_is_not_a_file(tmp_path):
    root = tmp_path / "m"
    pairs(root, bokeh_path="scenes/000000")
    refused(str(root), "scenes/000000: not a regular file")
    pairs(root)
    os.unlink(root / "scenes/000000/depth.npy")
    os.symlink(root / "gone.npy", root / "scenes/000000/depth.npy")
    refused(str(root), "depth.npy: a dangling link", "(2 bad file(s) in this column)")


def test_the_fit_cli_prints_one_error_line_and_exits_2(tmp_path, capsys):
    from train.cli import main

    root = pairs(tmp_path / "m", disp_focus=math.inf)
    argv = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", root, "--out", "run"]
    assert main([*argv[:-1], str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "'disp_focus': 1 non-finite value(s)" in err


def _photo(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((SIZE_PX, SIZE_PX, 3), 90, np.uint8)).save(path)


def photos(root, **change) -> str:
    row = dict(real_photo_rows()[0], width_px=SIZE_PX, height_px=SIZE_PX)
    _photo(root / row["uri"])
    write_part([dict(row, **change)], root, "real_photos", 0, validate=False)
    return str(root)


def test_real_photos_file_uris_may_lie_outside_the_root_but_must_be_files(tmp_path):
    """curate writes the absolute ``file://`` URIs of the photos it crawled: outside its own
    manifest folder by design. They must be well-formed and name readable files."""
    _photo(tmp_path / "crawl" / "a b#1.jpg")
    np.save(tmp_path / "crawl" / "depth.npy", np.full((SIZE_PX, SIZE_PX), 2.0, np.float32))
    uri, depth = f"file://{tmp_path}/crawl/a b#1.jpg", f"file://{tmp_path}/crawl/depth.npy"
    [row] = load_rows([photos(tmp_path / "m", uri=uri, depth_path=depth)], "real_photos")
    assert row["uri"] == uri and row["depth_path"] == depth
    for bad, needle in (
        (f"file://{tmp_path}/crawl/gone.jpg", "crawl/gone.jpg: no such file"),
        ("file://crawl/a.jpg", "a file:// URI needs an absolute path"),
    ):
        with pytest.raises(ManifestError, match="'uri' row 0: ") as e:
            load_rows([photos(tmp_path / "m", uri=bad)], "real_photos")
        assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "change,needle",
    [
        ({"depth_path": "../outside/depth.npy"}, "'depth_path' row 0: '../outside/depth.npy' esc"),
        ({"f_number": math.inf}, "'f_number': 1 non-finite value(s)"),
        ({"uri": "photos/none.jpg"}, "photos/none.jpg: no such file"),
    ],
)
def test_real_photos_rows_are_checked_like_synthetic_ones(tmp_path, change, needle):
    root = photos(tmp_path / "m", **change)
    with pytest.raises(ManifestError, match="part-00000.parquet: ") as e:
        load_rows([root], "real_photos")
    assert needle in str(e.value)
    assert not validate_path(root, files=True).ok


def test_an_old_real_photos_manifest_with_raw_file_uris_reads_the_right_photo(tmp_path):
    """real_photos 1.0 held ``file://`` + the raw path; since 1.1 URIs are percent-encoded. The
    trainer reads an old manifest's photo, whose name has a space and '%41', not 'A'."""
    right, wrong = tmp_path / "crawl" / "IMG %41 1.png", tmp_path / "crawl" / "IMG A 1.png"
    _photo(right)
    Image.fromarray(np.full((SIZE_PX, SIZE_PX, 3), 7, np.uint8)).save(wrong)
    root = photos(tmp_path / "m", uri=f"file://{right}")
    part = f"{root}/real_photos/part-00000.parquet"
    table = pq.read_table(part)
    meta = {**table.schema.metadata, b"refocus.schema_version": b"1.0"}
    pq.write_table(table.replace_schema_metadata(meta), part)
    [row] = load_rows([root], "real_photos")
    assert row["uri"] == right.as_uri()
    assert read_bytes(row["uri"], row["_root"]) == right.read_bytes() != wrong.read_bytes()
