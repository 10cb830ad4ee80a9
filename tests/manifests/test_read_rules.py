"""The reading rules every stage shares: regular files only, a size cap, the decompression-bomb
limits judged on the header, and 16-bit images scaled instead of clipped (infra.uri,
infra.images, infra.config_file)."""

import io
import os
import signal
import struct
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from infra.config_file import ConfigError, read_toml
from infra.images import (
    DecodeLimits,
    PhotoError,
    bomb_problem,
    decode_photo,
    read_kernel_png,
    read_photo,
)
from infra.uri import UnsafeFileError, file_uri, read_bytes


@contextmanager
def no_hang(seconds: int = 10):
    """Fail instead of hanging when a read blocks (a FIFO without a writer)."""

    def alarm(*_):
        raise AssertionError(f"blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def png_bytes(width, height, bit_depth=8, colour_type=2, rows: bytes | None = None) -> bytes:
    """A PNG written by hand: any size and bit depth; without ``rows`` only the header and an
    empty image stream (enough for a reader that judges the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_special_files_are_refused_before_a_byte_is_read(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", tmp_path):
        with no_hang(), pytest.raises(UnsafeFileError, match="not a regular file"):
            read_bytes(path)
        with no_hang(), pytest.raises(UnsafeFileError):
            read_bytes(file_uri(str(path)), 128)  # a ranged read too
    with no_hang(), pytest.raises(PhotoError, match="not a regular file"):
        read_photo(str(fifo))


def test_a_file_over_the_cap_is_refused_and_a_ranged_read_of_it_is_not(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1000)
    with pytest.raises(UnsafeFileError, match="larger than the 999 B read limit") as e:
        read_bytes(big, max_bytes=999)
    assert e.value.strerror.startswith("1000 B")
    assert read_bytes(big, 10, max_bytes=999) == b"x" * 10
    assert read_bytes(big, max_bytes=1000) == b"x" * 1000


def test_a_config_that_is_a_fifo_or_a_device_is_one_line(tmp_path):
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with no_hang(), pytest.raises(ConfigError, match="not a regular file") as e:
            read_toml(type(fifo)(path))
        assert "\n" not in str(e.value) and str(path) in str(e.value)


@pytest.mark.parametrize(
    "width,height,why",
    [(20000, 20000, "decode.max_pixels"), (13000, 13000, "decode.max_expansion_ratio")],
)
def test_decompression_bombs_are_refused_from_the_header(width, height, why):
    data = png_bytes(width, height)  # ~100 bytes that claim a huge bitmap
    with pytest.raises(PhotoError, match="decompression bomb refused") as e:
        decode_photo(data, "bomb.png")
    assert why in str(e.value) and str(e.value).startswith("bomb.png: ")
    assert bomb_problem(width, height, 3, len(data), DecodeLimits()) is not None
    # the same rule as curate's decoder
    from curate.decode import DecodeError, decode_image

    with pytest.raises(DecodeError) as c:
        decode_image(data, "PNG")
    assert c.value.reason == "decompression_bomb" and why in c.value.detail


def _grey16_png(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buf, "PNG")
    return buf.getvalue()


def test_16_bit_grey_is_scaled_not_clipped_to_white():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    rgb = decode_photo(_grey16_png(ramp))
    assert rgb.shape == (8, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert abs(int(rgb[0, 32, 1]) - round(ramp[0, 32] / 257)) <= 1  # mid grey stays mid grey
    from curate.decode import decode_image

    assert abs(int(decode_image(_grey16_png(ramp), "PNG").rgb[0, 32, 0]) - 132) <= 2


def test_16_bit_rgb_is_read_at_8_bits():
    rgb16 = np.zeros((4, 4, 3), ">u2")
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32896, 0
    rows = b"".join(b"\x00" + rgb16[y].tobytes() for y in range(4))
    out = decode_photo(png_bytes(4, 4, 16, 2, rows))
    assert out[0, 0].tolist() == [255, 128, 0]


def test_a_16_bit_kernel_keeps_its_partly_open_pixels(tmp_path):
    n = 33
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(xx, yy)
    k = np.where(r <= 8, 65535, np.where(r <= 15, 1000, 0)).astype(np.uint16)  # ring 1.5 % open
    path = tmp_path / "k.png"
    path.write_bytes(_grey16_png(k))
    got = read_kernel_png(str(path))
    ring = got[(r > 10) & (r < 14)]
    assert np.allclose(ring, 1000 / 65535, atol=1e-3), ring.max()  # not a fully open disc
    assert got[n // 2, n // 2] == pytest.approx(1.0)


def test_the_trainer_reads_renders_through_the_same_rule(tmp_path):
    """A bomb or a 16-bit PNG as a synthetic pair's AIF: one line naming the file, or the image
    scaled; never Pillow's DecompressionBombError traceback or a white frame (NaN metrics)."""
    from train.data.build import read_rgb

    (tmp_path / "bomb.png").write_bytes(png_bytes(20000, 20000))
    with pytest.raises(OSError, match="decompression bomb refused") as e:
        read_rgb("bomb.png", str(tmp_path))
    assert str(tmp_path / "bomb.png") in str(e.value)
    ramp = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (16, 1))
    (tmp_path / "aif16.png").write_bytes(_grey16_png(ramp))
    rgb = read_rgb("aif16.png", str(tmp_path))
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and 100 < rgb[0, 8, 0] < 160


# ---- manifest parts: footers, duplicates, links and URIs that leave the root ---------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _claim_rows(path, real_rows: int, claimed: int) -> None:
    """Rewrite a part's Thrift footer so that every row count it holds (file, row group,
    column chunks: i64 fields, compact protocol) claims ``claimed`` rows."""
    data = open(path, "rb").read()
    n = struct.unpack("<I", data[-8:-4])[0]
    footer = data[-8 - n : -8]
    old, new = b"\x16" + _varint(2 * real_rows), b"\x16" + _varint(2 * claimed)  # zigzag
    assert old in footer
    footer = footer.replace(old, new)
    with open(path, "wb") as f:
        f.write(data[: -8 - n] + footer + struct.pack("<I", len(footer)) + b"PAR1")


def _rejects(n: int) -> list[dict]:
    from manifests.example import reject_rows

    return [dict(reject_rows()[0], uri=f"file:///in/{i}.jpg") for i in range(n)]


def test_a_footer_that_claims_2_31_rows_is_refused_before_reading(tmp_path):
    from manifests import ManifestError, read_table, write_part
    from manifests.validate import read_valid_table, validate_path

    path = write_part(_rejects(37), tmp_path, "rejects", 0)
    _claim_rows(path, 37, 2**31)
    report = validate_path(tmp_path)
    [problem] = [str(p) for p in report.problems]
    assert problem.startswith(path) and "claims 2147483648 rows in a file of" in problem
    for read in (
        lambda: read_table(tmp_path, "rejects"),
        lambda: read_valid_table(tmp_path, "rejects"),
    ):
        with pytest.raises(ManifestError, match="corrupt Parquet footer") as e:
            read()
        assert path in str(e.value) and "\n" not in str(e.value)


def test_corrupt_column_metadata_is_one_line_naming_the_part(tmp_path):
    from manifests import ManifestError, read_table, write_part
    from manifests.validate import validate_path

    path = write_part(_rejects(20), tmp_path, "rejects", 0)
    data = bytearray(open(path, "rb").read())
    n = struct.unpack("<I", data[-8:-4])[0]
    for i in range(len(data) - 8 - n, len(data) - 8 - n // 2):  # the footer's first half
        data[i] ^= 0x5A
    open(path, "wb").write(bytes(data))
    [problem] = validate_path(tmp_path).problems
    assert problem.source == path
    with pytest.raises(ManifestError) as e:
        read_table(tmp_path, "rejects")
    assert path in str(e.value) and "\n" not in str(e.value)


def test_duplicated_rows_copied_parts_and_kept_and_rejected_twice_are_problems(tmp_path):
    import shutil

    from manifests import write_part
    from manifests.example import real_photo_rows
    from manifests.validate import validate_path

    rows = _rejects(5)
    write_part([*rows, rows[2]], tmp_path / "a", "rejects", 0, validate=True)
    [p] = validate_path(tmp_path / "a").problems
    assert "1 duplicate row(s)" in p.message and "file:///in/2.jpg" in p.message
    part = write_part(rows, tmp_path / "b", "rejects", 0)
    shutil.copy(part, part.replace("part-00000", "part-00001"))  # a copied part
    [p] = validate_path(tmp_path / "b").problems
    assert "5 duplicate row(s)" in p.message and "part-00001" in p.source
    kept = [dict(real_photo_rows()[0], uri=rows[0]["uri"])]
    write_part(kept, tmp_path / "b", "real_photos", 0)
    (tmp_path / "b" / "rejects" / "part-00001.parquet").unlink()
    assert any("both kept and rejected" in str(p) for p in validate_path(tmp_path / "b").problems)


def test_a_part_that_links_outside_the_root_is_a_problem(tmp_path):
    from manifests import write_part
    from manifests.validate import validate_path

    elsewhere = write_part(_rejects(3), tmp_path / "elsewhere", "rejects", 0)
    (tmp_path / "m" / "rejects").mkdir(parents=True)
    (tmp_path / "m" / "rejects" / "part-00000.parquet").symlink_to(elsewhere)
    [p] = validate_path(tmp_path / "m").problems
    assert "outside the manifest root" in p.message


def test_render_sets_do_not_read_file_uris_outside_their_root(tmp_path):
    from manifests import ManifestError, write_part
    from manifests.example import synthetic_rows
    from manifests.validate import read_valid_table, validate_path

    rows = synthetic_rows(1, 1)
    (tmp_path / "outside.png").write_bytes(b"x")
    write_part(
        [dict(rows[0], aif_path=file_uri(str(tmp_path / "outside.png")))],
        tmp_path / "m",
        "synthetic_pairs",
        0,
    )
    [p] = validate_path(tmp_path / "m").problems
    assert "lies outside the manifest root" in p.message and "aif_path" in p.message
    with pytest.raises(ManifestError, match="outside the manifest root"):
        read_valid_table(tmp_path / "m", "synthetic_pairs", ())
    inside = tmp_path / "m" / "scenes" / "a.png"
    inside.parent.mkdir()
    inside.write_bytes(b"x")
    write_part(
        [dict(rows[0], aif_path=file_uri(str(inside)))], tmp_path / "m", "synthetic_pairs", 0
    )
    assert validate_path(tmp_path / "m").ok


def test_a_part_writer_leaves_a_live_writers_temp_file_alone(tmp_path):
    """Two writers of one shard (a requeued task still alive): the second one's sweep removes
    only temp files of dead writers, never the live one's (which it used to delete)."""
    import socket
    import subprocess
    import sys

    from manifests import write_part

    folder = tmp_path / "rejects"
    folder.mkdir()
    live = folder / f".part-00000.parquet.tmp-{socket.gethostname()}-{os.getpid()}-{'a' * 32}"
    live.write_bytes(b"in progress")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that has ended
    gone.wait()
    dead = folder / f".part-00000.parquet.tmp-{socket.gethostname()}-{gone.pid}-{'b' * 32}"
    dead.write_bytes(b"left by a killed writer")
    other_host = folder / f".part-00000.parquet.tmp-elsewhere-{gone.pid}-{'c' * 32}"
    other_host.write_bytes(b"a writer on another node")
    write_part(_rejects(2), tmp_path, "rejects", 0)
    assert live.exists() and other_host.exists() and not dead.exists()


def test_validate_files_judges_image_headers_by_the_same_rule(tmp_path):
    """``validate --files`` said ok for a 90 KB 20000² PNG AIF that then failed training."""
    from manifests import write_part
    from manifests.example import synthetic_rows
    from manifests.validate import validate_path

    row = synthetic_rows(1, 1)[0]
    for col in ("aif_path", "bokeh_path", "depth_path", "coc_path"):
        row[col] = f"scenes/000000/{col}.bin"
        (tmp_path / row[col]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / row[col]).write_bytes(png_bytes(32, 32) if col != "aif_path" else b"")
    for col in ("bokeh_jpeg_path", "bokeh_exr_path", "aperture_kernel_path"):
        row[col] = None
    (tmp_path / row["aif_path"]).write_bytes(png_bytes(20000, 20000))
    write_part([row], tmp_path, "synthetic_pairs", 0)
    problems = [str(p) for p in validate_path(tmp_path, files=True).problems]
    assert len(problems) == 1 and "aif_path" in problems[0], problems
    assert "decompression bomb refused" in problems[0]
    assert validate_path(tmp_path).ok  # without --files the files are not opened


# ---- round 2, second pass (the adversarial re-run) ----------------------------------------


def test_a_sparse_part_cannot_claim_rows_its_holes_do_not_hold(tmp_path):
    """The footer bound counts the bytes a part stores: a 2 GiB hole holds nothing."""
    from manifests import ManifestError, read_table, write_part

    path = write_part(_rejects(37), tmp_path, "rejects", 0)
    _claim_rows(path, 37, 2**33)
    data = open(path, "rb").read()
    with open(path, "wb") as f:  # the footer at 2 GiB, the rest a hole
        f.write(data[:4])
        f.seek(2**31)
        f.write(data)
    with pytest.raises(ManifestError, match="claims 8589934592 rows in a file of"):
        read_table(tmp_path, "rejects")


def test_an_npy_header_that_claims_more_than_the_file_holds_is_refused(tmp_path):
    from infra.npy import npy_from_bytes, npy_header_problem

    buf = io.BytesIO()
    np.save(buf, np.ones((4, 4), np.float32))
    good = buf.getvalue()
    header = good.replace(b"(4, 4)", b"(100000, 100000)").replace(b"   ", b"", 1)
    assert npy_header_problem(good) is None
    assert "claims float32 (100000, 100000) (40000000000 bytes)" in npy_header_problem(header)
    with pytest.raises(ValueError, match="d.npy: its header claims"):
        npy_from_bytes(header, "d.npy")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "pickle" in npy_header_problem(buf.getvalue())


def test_validate_files_checks_render_sizes_against_the_rows(tmp_path):
    """A 1×1 AIF or a depth map of another shape in a 32 px row: --files says so."""
    from manifests import write_part
    from manifests.example import synthetic_rows
    from manifests.validate import validate_path

    row = dict(synthetic_rows(1, 1)[0], width_px=32, height_px=32, k_ref_width_px=32)
    for col in ("bokeh_jpeg_path", "bokeh_exr_path", "aperture_kernel_path"):
        row[col] = None
    folder = tmp_path / "scenes" / "000000"
    folder.mkdir(parents=True)
    for col, name in (("aif_path", "aif.png"), ("bokeh_path", "dof_00.png")):
        row[col] = f"scenes/000000/{name}"
        Image.new("RGB", (32, 32)).save(folder / name)
    for col, name in (("depth_path", "depth.npy"), ("coc_path", "coc_00.npy")):
        row[col] = f"scenes/000000/{name}"
        np.save(folder / name, np.ones((32, 32), np.float32))
    write_part([row], tmp_path, "synthetic_pairs", 0)
    assert validate_path(tmp_path, files=True).ok
    Image.new("RGB", (1, 1)).save(folder / "aif.png")
    [p] = validate_path(tmp_path, files=True).problems
    assert "'aif_path' row 0" in p.message and "is 1x1 px, the row says 32x32" in p.message
    Image.new("RGB", (32, 32)).save(folder / "aif.png")
    np.save(folder / "depth.npy", np.ones((16, 32), np.float32))
    [p] = validate_path(tmp_path, files=True).problems
    assert "'depth_path' row 0" in p.message and "is 32x16 px" in p.message
