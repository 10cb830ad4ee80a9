"""Decoding: orientation, scaled JPEG decode, the real decode check, the bomb limit, formats."""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from curate.decode import DecodeError, _orient_array, clip_input, decode_image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation):
    a = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    im = Image.fromarray(a)
    ex = im.getexif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=ex.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))))
    assert np.array_equal(_orient_array(a, orientation), expected)


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
