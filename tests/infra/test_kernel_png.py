"""Aperture kernel PNGs: written beside each shaped render, read back by any stage."""

import numpy as np
import pytest
from PIL import Image

from infra.images import read_kernel_png, write_kernel_png
from optics.aperture import KernelError, footprint, iou, parse_shape, rasterize


def test_kernel_png_round_trip_is_within_one_grey_level(tmp_path):
    k = rasterize(parse_shape("heart"))
    write_kernel_png(tmp_path / "dof_00_kernel.png", k)
    back = read_kernel_png(str(tmp_path / "dof_00_kernel.png"))
    assert back.shape == k.shape and back.dtype == np.float32
    assert np.abs(back - k).max() <= 0.5 / 255 + 1e-6
    assert read_kernel_png((tmp_path / "dof_00_kernel.png").as_uri()).shape == k.shape


def test_a_user_png_is_centred_and_scaled(tmp_path):
    rgb = np.zeros((300, 300, 3), np.uint8)
    rgb[100:200, 100:200] = (rasterize(parse_shape("star"), 100)[..., None] * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "star.png")
    k = read_kernel_png(str(tmp_path / "star.png"), user=True)
    assert iou(footprint(k), footprint(rasterize(parse_shape("star")))) > 0.9


def test_writing_a_kernel_without_opening_is_refused(tmp_path):
    with pytest.raises(KernelError, match="no opening"):
        write_kernel_png(tmp_path / "k.png", np.zeros((16, 16)))


@pytest.mark.parametrize("case", ["missing", "not_png", "huge", "rectangle", "black"])
def test_bad_kernel_files_get_one_line_errors_naming_the_file(tmp_path, case):
    path = tmp_path / f"{case}.png"
    if case == "not_png":
        path.write_bytes(b"this is not an image")
    elif case == "huge":
        Image.new("L", (4096, 4096), 255).save(path)
    elif case == "rectangle":
        Image.new("L", (64, 32), 255).save(path)
    elif case == "black":
        Image.new("L", (64, 64), 0).save(path)
    with pytest.raises(KernelError) as e:
        read_kernel_png(str(path), user=True)
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg
