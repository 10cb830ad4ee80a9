"""The reading rules every stage shares: regular files only, a size cap, the decompression-bomb
limits judged on the header, and 16-bit images scaled instead of clipped (manifests.uri,
manifests.images, manifests.config_file)."""

import io
import os
import signal
import struct
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from manifests.config_file import ConfigError, read_toml
from manifests.images import (
    DecodeLimits,
    PhotoError,
    bomb_problem,
    decode_photo,
    read_kernel_png,
    read_photo,
)
from manifests.uri import UnsafeFileError, file_uri, read_bytes


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
