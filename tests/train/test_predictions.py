"""Predictions folders an external pipeline hands the benchmark (``train.evaluate.predictions``):
hostile folders first (missing, extra, wrongly sized, 16-bit, alpha, not-an-image, truncated,
links out of the folder, FIFOs, no folder), each refused in one line naming the file; then the
round trip and what is allowed or ignored. Images are 8×6 px; nothing here may block."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.evaluate.predictions import (
    PredictionsError,
    name_problem,
    read_predictions,
    write_predictions,
)

W, H = 8, 6
NAMES = ("bokeh/row_a.png", "bokeh/row_b.png", "deblur/row_a.png")
EXPECTED = {name: (W, H) for name in NAMES}


def image(seed: int, width: int = W, height: int = H) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def images() -> dict[str, np.ndarray]:
    return {name: image(i) for i, name in enumerate(NAMES)}


@pytest.fixture
def folder(tmp_path) -> Path:
    """A complete, valid predictions folder."""
    write_predictions(tmp_path / "preds", images())
    return tmp_path / "preds"


def refused(folder, names: str, expected=EXPECTED) -> str:
    """Read ``folder``; assert it is refused in one line naming ``names``; the message."""
    with pytest.raises(PredictionsError) as e:
        read_predictions(folder, expected)
    text = str(e.value)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(f"{names}: "), text
    return text


def png_16bit_rgb(width: int, height: int) -> bytes:
    """A 16-bit RGB PNG (which Pillow opens as 8-bit "RGB", dropping the low bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(i % 256 for i in range(width * 6)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- hostile folders --------------------------------------------------------------------------


def test_missing_file_named_with_counts(folder):
    (folder / "bokeh/row_b.png").unlink()
    text = refused(folder, "bokeh/row_b.png")
    assert "missing (1 of 3 predictions missing)" in text


def test_missing_and_misnamed_names_both(folder):
    (folder / "bokeh/row_b.png").rename(folder / "bokeh/row_B.png")
    text = refused(folder, "bokeh/row_b.png")
    assert "1 of 3 predictions missing" in text and "first bokeh/row_B.png" in text


def test_expected_name_is_a_folder(folder):
    (folder / "bokeh/row_b.png").unlink()
    (folder / "bokeh/row_b.png").mkdir()
    assert "a folder has that name" in refused(folder, "bokeh/row_b.png")


def test_extra_file_refused(folder):
    (folder / "bokeh/row_c.png").write_bytes((folder / "bokeh/row_a.png").read_bytes())
    (folder / "notes.txt").write_text("hello")
    text = refused(folder, "bokeh/row_c.png")
    assert "2 unexpected" in text


def test_extra_file_with_a_newline_in_its_name_stays_one_line(folder):
    (folder / "bokeh/row\nc.png").write_bytes(b"x")
    refused(folder, repr("bokeh/row\nc.png"))


def test_wrong_size_names_both_sizes(folder):
    Image.fromarray(image(0, 6, 8)).save(folder / "bokeh/row_a.png")
    assert "6x8 px, expected 8x6 px" in refused(folder, "bokeh/row_a.png")


def test_16bit_grey_png_refused(folder):
    grey = (np.arange(W * H, dtype=np.uint16).reshape(H, W) * 1000).astype(np.uint16)
    Image.fromarray(grey).save(folder / "deblur/row_a.png")
    assert Image.open(folder / "deblur/row_a.png").mode == "I;16"
    assert "mode I;16" in refused(folder, "deblur/row_a.png")


def test_16bit_rgb_png_refused_not_truncated(folder):
    (folder / "bokeh/row_a.png").write_bytes(png_16bit_rgb(W, H))
    assert Image.open(folder / "bokeh/row_a.png").mode == "RGB"  # what makes it hostile
    assert "16-bit RGB PNG" in refused(folder, "bokeh/row_a.png")


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_non_rgb_modes_refused(folder, mode):
    Image.fromarray(image(0)).convert(mode).save(folder / "bokeh/row_a.png")
    assert f"mode {mode}" in refused(folder, "bokeh/row_a.png")


def test_other_formats_refused(folder):
    Image.fromarray(image(0)).save(folder / "bokeh/row_a.png", format="BMP")
    assert "a BMP file" in refused(folder, "bokeh/row_a.png")


def test_animated_png_refused(folder):
    frames = [Image.fromarray(image(i)) for i in range(2)]
    frames[0].save(folder / "bokeh/row_a.png", save_all=True, append_images=frames[1:])
    assert "animated PNG (2 frames)" in refused(folder, "bokeh/row_a.png")


@pytest.mark.parametrize(
    "content",
    [b"", b"a text file, not an image\nsecond line\n", b"\x89PNG\r\n\x1a\n"],
    ids=["empty", "text", "signature-only"],
)
def test_not_an_image(folder, content):
    (folder / "bokeh/row_a.png").write_bytes(content)
    assert "not a readable image" in refused(folder, "bokeh/row_a.png")


def test_npy_renamed_png(folder):
    buf = io.BytesIO()
    np.save(buf, image(0))
    (folder / "bokeh/row_a.png").write_bytes(buf.getvalue())
    assert "not a readable image" in refused(folder, "bokeh/row_a.png")


@pytest.mark.parametrize("cut", [0.66, -20, -4, "zeros", "tail"])
def test_truncated_png(folder, cut):
    """Cut inside the pixels, just before the IEND chunk, inside it; a flat image cut inside its
    zlib checksum (Pillow alone decodes its pixels whole); bytes after the end."""
    path = folder / "bokeh/row_a.png"
    if cut == "zeros":
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    data = path.read_bytes()
    if cut == "tail":
        data += b"junk"
    elif cut == "zeros":
        data = data[:-14]  # 2 of the 4 Adler-32 bytes, the IDAT CRC and IEND are gone
        assert Image.open(io.BytesIO(data)).load() is not None
    else:
        data = data[: int(len(data) * cut) if isinstance(cut, float) else cut]
    path.write_bytes(data)
    assert "does not end with its IEND chunk" in refused(folder, "bokeh/row_a.png")


@pytest.mark.parametrize(("cut", "reason"), [(300, "not a readable image"), (-10, "cannot decode")])
def test_truncated_jpeg(tmp_path, cut, reason):
    """Cut inside the header (its tables), and inside the pixels."""
    Image.fromarray(image(0)).save(tmp_path / "x.png", format="JPEG")
    data = (tmp_path / "x.png").read_bytes()
    (tmp_path / "x.png").write_bytes(data[:cut])
    assert reason in refused(tmp_path, "x.png", {"x.png": (W, H)})


def test_link_to_a_file_outside_refused(folder, tmp_path):
    outside = tmp_path / "outside.png"
    Image.fromarray(image(0)).save(outside)
    (folder / "bokeh/row_a.png").unlink()
    (folder / "bokeh/row_a.png").symlink_to(outside)
    assert "outside the predictions folder" in refused(folder, "bokeh/row_a.png")


def test_linked_folder_outside_refused(folder, tmp_path):
    os.rename(folder / "deblur", tmp_path / "deblur_elsewhere")
    (folder / "deblur").symlink_to(tmp_path / "deblur_elsewhere")
    assert "outside the predictions folder" in refused(folder, "deblur")


def test_dangling_link_outside_refused(folder):
    (folder / "bokeh/extra.png").symlink_to("/nonexistent/elsewhere.png")
    assert "outside the predictions folder" in refused(folder, "bokeh/extra.png")


def test_folder_link_loop_refused(folder):
    (folder / "bokeh/again").symlink_to(folder)
    assert "loop" in refused(folder, "bokeh/again")


def test_fifo_named_like_an_expected_file_does_not_block(folder):
    (folder / "bokeh/row_a.png").unlink()
    os.mkfifo(folder / "bokeh/row_a.png")
    assert "not a regular file" in refused(folder, "bokeh/row_a.png")


def test_folder_missing(tmp_path):
    refused(tmp_path / "nope", str(tmp_path / "nope"))


def test_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "not a folder" in refused(tmp_path / "file", str(tmp_path / "file"))


def test_folder_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert "not a folder" in refused(tmp_path / "fifo", str(tmp_path / "fifo"))


# --- the writer's and the caller's mistakes -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "/abs/x.png", "../x.png", "a/../x.png", "a//x.png", "./x.png", "a\\x.png",
     "a/.hidden.png", "x\n.png", "README.png", "predictions.json", "x.jpg"],
)  # fmt: skip
def test_writer_refuses_bad_names(tmp_path, name):
    with pytest.raises(ValueError):
        write_predictions(tmp_path, {name: image(0)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "arr",
    [image(0).astype(np.uint16), image(0).astype(np.float32), image(0)[..., :2],
     np.zeros((H, W, 4), np.uint8), np.zeros((H, W), np.uint8), np.zeros((0, W, 3), np.uint8),
     [[0, 0, 0]]],
)  # fmt: skip
def test_writer_refuses_bad_arrays(tmp_path, arr):
    with pytest.raises(ValueError):
        write_predictions(tmp_path, {"good.png": image(0), "bad.png": arr})
    assert list(tmp_path.iterdir()) == []  # nothing written before every image is checked


def test_reader_refuses_a_malformed_expected(folder):
    with pytest.raises(ValueError, match="expected prediction name"):
        read_predictions(folder, {"../x.png": (W, H)})
    with pytest.raises(ValueError, match="width_px, height_px"):
        read_predictions(folder, {"bokeh/row_a.png": (W, 0)})
    assert name_problem("bokeh/row_a.png") is None


# --- what is read -------------------------------------------------------------------------------


def test_round_trip(folder):
    got = read_predictions(folder, EXPECTED)
    want = images()
    assert list(got) == list(EXPECTED)
    for name in NAMES:
        assert got[name].dtype == np.uint8 and got[name].shape == (H, W, 3)
        np.testing.assert_array_equal(got[name], want[name])


def test_non_contiguous_array_round_trips(tmp_path):
    arr = image(3, 2 * W, H)[:, ::2]
    write_predictions(tmp_path, {"x.png": arr})
    np.testing.assert_array_equal(read_predictions(tmp_path, {"x.png": (W, H)})["x.png"], arr)


def test_link_inside_the_folder_allowed(folder):
    target = folder / "bokeh/row_b.png"
    os.rename(target, folder / "deblur/store_b.png")
    target.symlink_to("../deblur/store_b.png")
    expected = {**EXPECTED, "deblur/store_b.png": (W, H)}
    got = read_predictions(folder, expected)
    np.testing.assert_array_equal(got["bokeh/row_b.png"], images()["bokeh/row_b.png"])


def test_linked_folder_inside_allowed(folder):
    os.rename(folder / "deblur", folder / "store")
    (folder / "deblur").symlink_to("store")
    with pytest.raises(PredictionsError, match=r"^store/row_a\.png: not an expected"):
        read_predictions(folder, EXPECTED)  # both names list the file: one is extra
    got = read_predictions(folder, {**EXPECTED, "store/row_a.png": (W, H)})
    np.testing.assert_array_equal(got["deblur/row_a.png"], got["store/row_a.png"])


def test_hidden_readme_and_predictions_json_ignored(folder):
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "bokeh/.row_a.png.tmp-host-1-abc").write_bytes(b"partial")
    (folder / ".cache").mkdir()
    (folder / ".cache/x.png").write_bytes(b"x")
    (folder / "README.md").write_text("how these were made")
    (folder / "predictions.json").write_text("{}")
    (folder / ".outside").symlink_to("/etc")
    assert set(read_predictions(folder, EXPECTED)) == set(NAMES)


def test_readme_below_the_top_is_extra(folder):
    (folder / "bokeh/README.md").write_text("x")
    refused(folder, "bokeh/README.md")


def test_jpeg_rgb_accepted_without_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° CW to display": applying it would make the image 6x8
    Image.fromarray(image(0)).save(tmp_path / "x.png", format="JPEG", quality=95, exif=exif)
    got = read_predictions(tmp_path, {"x.png": (W, H)})["x.png"]
    assert got.shape == (H, W, 3)
    want = np.asarray(Image.open(tmp_path / "x.png").convert("RGB"))
    np.testing.assert_array_equal(got, want)


def test_grey_jpeg_refused(tmp_path):
    Image.fromarray(image(0)).convert("L").save(tmp_path / "x.png", format="JPEG")
    assert "mode L" in refused(tmp_path, "x.png", {"x.png": (W, H)})


def test_empty_expected_on_an_empty_folder(tmp_path):
    assert read_predictions(tmp_path, {}) == {}
