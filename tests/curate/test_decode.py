"""Decoding: orientation, scaled JPEG decode, the real decode check, the bomb limits, formats."""

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from curate.decode import (
    MB,
    DecodeError,
    DecodeLimits,
    check_bomb,
    clip_input,
    decode_image,
    orient_array,
)
from curate.exif import sniff_format

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation):
    a = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    im = Image.fromarray(a)
    ex = im.getexif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=ex.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))))
    assert np.array_equal(orient_array(a, orientation), expected)


def test_jpeg_is_decoded_scaled_and_oriented(tmp_path, photo_writer):
    path = photo_writer(tmp_path / "a.jpg", width=2400, height=1600, orientation=6)
    d = decode_image(path.read_bytes(), "JPEG", 6, long_edge_px=512)
    assert (d.width_px, d.height_px) == (1600, 2400)  # displayed size, rotated
    assert d.rgb.shape == (512, 341, 3) and d.rgb.dtype == np.uint8


def test_truncated_jpeg_fails_to_decode(tmp_path, photo_writer):
    data = photo_writer(tmp_path / "a.jpg", width=800, height=600).read_bytes()
    with pytest.raises(DecodeError) as e:
        decode_image(data[: len(data) * 2 // 3], "JPEG")
    assert e.value.reason == "decode_failed" and "premature" in e.value.detail.lower()


def test_corrupted_camera_file_fails_to_decode(camera_exif_dir):
    # Pillow decodes this file without complaint (grey-filling the lost rows); we must not.
    with pytest.raises(DecodeError) as e:
        decode_image((camera_exif_dir / "corrupted.jpg").read_bytes(), "JPEG", 1)
    assert e.value.reason == "decode_failed"


def test_decompression_bomb_is_refused_before_decoding(tmp_path, photo_writer):
    data = photo_writer(tmp_path / "a.jpg", width=1000, height=800).read_bytes()
    with pytest.raises(DecodeError) as e:
        decode_image(data, "JPEG", max_pixels=500_000)
    assert e.value.reason == "decompression_bomb" and "1000x800" in e.value.detail
    png = photo_writer(tmp_path / "a.png", width=1000, height=800).read_bytes()
    with pytest.raises(DecodeError) as e:
        decode_image(png, "PNG", max_pixels=500_000)
    assert e.value.reason == "decompression_bomb"


@pytest.mark.parametrize("ext", ["png", "webp", "tif"])
def test_other_formats_decode(tmp_path, photo_writer, ext):
    data = photo_writer(tmp_path / f"a.{ext}", width=700, height=500).read_bytes()
    d = decode_image(data, None, long_edge_px=350)
    assert (d.width_px, d.height_px) == (700, 500) and d.rgb.shape == (250, 350, 3)


def test_heic_decodes(camera_exif_dir):
    d = decode_image((camera_exif_dir / "heic__IMG_5195.HEIC").read_bytes(), "HEIF")
    assert (d.width_px, d.height_px) == (2566, 3313) and max(d.rgb.shape[:2]) == 512


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.99, 0.999])
def test_truncated_heic_fails_to_decode(camera_exif_dir, fraction):
    # libheif decodes it without an error, filling the lost grid tiles with green
    data = (camera_exif_dir / "heic__IMG_5195.HEIC").read_bytes()
    with pytest.raises(DecodeError) as e:
        decode_image(data[: int(len(data) * fraction)], "HEIF")
    assert e.value.reason == "decode_failed" and "truncated" in e.value.detail
    assert "\n" not in e.value.detail and "file has" in e.value.detail


def _heif(width=320, height=240) -> bytes:
    import pillow_heif

    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB", size=(width, height), data=rgb.tobytes()).save(
        buf, quality=80
    )
    return buf.getvalue()


def test_heif_written_by_pillow_heif_decodes_whole_and_fails_truncated():
    data = _heif()
    assert sniff_format(data) == "HEIF"
    d = decode_image(data, "HEIF", long_edge_px=160)
    assert (d.width_px, d.height_px) == (320, 240) and d.rgb.shape == (120, 160, 3)
    for cut in (len(data) // 2, len(data) * 9 // 10, len(data) - 1):
        with pytest.raises(DecodeError) as e:
            decode_image(data[:cut], None)
        assert e.value.reason == "decode_failed" and f"file has {cut}" in e.value.detail


def test_heif_without_its_item_boxes_fails_to_decode():
    data = _heif()
    broken = data.replace(b"iloc", b"xxxx", 1)  # the primary image has no location any more
    with pytest.raises(DecodeError) as e:
        decode_image(broken, "HEIF")
    assert e.value.reason in ("decode_failed", "unsupported_format")


def flat_png(width: int, height: int, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A PNG of one flat colour, built row by row (the bitmap is never held in memory)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = bytes(1 + (width * channels * bit_depth + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("bit_depth", [1, 8])
def test_small_file_with_a_huge_bitmap_is_a_bomb(bit_depth):
    data = flat_png(14000, 14000, bit_depth)  # 196 MP in ~24 KB (1-bit) / ~190 KB (8-bit)
    assert len(data) < 250_000
    with pytest.raises(DecodeError) as e:
        decode_image(data, "PNG")
    assert e.value.reason == "decompression_bomb"
    # the numbers: bitmap size (3 bytes per pixel once RGB), file size, ratio, the setting
    assert "14000x14000 bitmap of 561 MiB" in e.value.detail
    assert "decode.max_expansion_ratio 250" in e.value.detail and "\n" not in e.value.detail


def test_bomb_is_refused_before_any_pixel_is_decoded():
    # Decoding it would take ~1 GB (Pillow's 1-bit bitmap, then its RGB copy); refusing it
    # from the header costs a few MB. Measured in a fresh process (peak RSS is per process).
    code = (
        "import resource, sys\n"
        "sys.path.insert(0, 'tests/curate')\n"
        "from test_decode import flat_png\n"
        "from curate.decode import DecodeError, decode_image\n"
        "data = flat_png(14000, 14000, 1)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    decode_image(data, 'PNG')\n"
        "except DecodeError as e:\n"
        "    print(e.reason)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) // 1024)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    reason, grown_mb = p.stdout.split()
    assert reason == "decompression_bomb" and int(grown_mb) < 64


def test_bitmap_budget():
    png = flat_png(2000, 1000, 8, 2)  # 6 MB of RGB
    with pytest.raises(DecodeError) as e:
        decode_image(png, "PNG", limits=DecodeLimits(max_bitmap_mb=5))
    assert e.value.reason == "decompression_bomb"
    assert "2000x1000 bitmap of 6 MiB > decode.max_bitmap_mb 5" in e.value.detail
    assert decode_image(png, "PNG", limits=DecodeLimits(max_bitmap_mb=6)).width_px == 2000


def test_expansion_ratio_is_judged_only_above_the_floor():
    # a flat 2000x1000 PNG expands ~1000x, but its 6 MB bitmap is below the default floor
    png = flat_png(2000, 1000, 8, 2)
    assert decode_image(png, "PNG").width_px == 2000
    with pytest.raises(DecodeError) as e:
        decode_image(png, "PNG", limits=DecodeLimits(ratio_floor_mb=1))
    assert e.value.reason == "decompression_bomb" and "decode.ratio_floor_mb 1)" in e.value.detail
    # a 100 MP photo above the floor with a real photograph's expansion (x31: the HEIC) passes
    check_bomb(12000, 8500, 3, int(12000 * 8500 * 3 / 31), DecodeLimits())
    with pytest.raises(DecodeError):
        check_bomb(12000, 8500, 3, int(12000 * 8500 * 3 / 300), DecodeLimits())
    assert MB == 2**20


def test_real_and_generated_photos_are_not_bombs(camera_exif_dir, tmp_path, photo_writer):
    names = [p for p in sorted(camera_exif_dir.iterdir()) if p.suffix.lower() in (".jpg", ".heic")]
    for path in names:
        try:
            decode_image(path.read_bytes(), sniff_format(path.read_bytes()))
        except DecodeError as e:  # corrupted.jpg fails, as it should, but never as a bomb
            assert e.reason == "decode_failed", (path.name, e.detail)
    for ext in ("jpg", "png", "webp", "tif"):
        data = photo_writer(tmp_path / f"a.{ext}", width=2400, height=1600).read_bytes()
        decode_image(data, sniff_format(data))


def test_not_an_image_is_unsupported():
    with pytest.raises(DecodeError) as e:
        decode_image(b"hello world" * 10, None)
    assert e.value.reason == "unsupported_format"


def test_clip_input_is_a_centre_square():
    rgb = np.zeros((300, 600, 3), np.uint8)
    rgb[:, 200:400] = 255
    crop = clip_input(rgb, 224)
    assert crop.shape == (224, 224, 3)
    assert crop[:, 112].min() == 255 and crop[:, 0].max() < 255
