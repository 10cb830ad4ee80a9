"""Aperture kernels: rasterised built-ins, Cycles' blades, user kernels, validation, light loss."""

import numpy as np
import pytest

from optics.aperture import (
    KERNEL_SIZE_PX,
    ApertureShape,
    KernelError,
    cycles_kernel,
    footprint,
    iou,
    kernel_from_array,
    light_loss_ev,
    normalised,
    open_fraction,
    outline,
    parse_shape,
    rasterize,
    validate_kernel,
)


def _polygon_area(p):
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.mark.parametrize("name", ["round", "triangle", "hexagon", "star", "heart", "polygon7@15"])
def test_rasterised_area_matches_the_outline(name):
    shape = parse_shape(name)
    k = rasterize(shape)
    assert k.shape == (KERNEL_SIZE_PX, KERNEL_SIZE_PX) and k.dtype == np.float32
    assert 0 <= k.min() and k.max() == 1
    area = np.pi if shape.name == "round" else _polygon_area(outline(shape))
    # open fraction = area / disc area, the rasterisation within 0.5 %
    assert open_fraction(k) == pytest.approx(area / np.pi, rel=5e-3)


def test_known_light_losses():
    # a regular hexagon inscribed in the CoC circle: 3√3/(2π) = 0.827 of the disc
    assert open_fraction(rasterize(parse_shape("hexagon"))) == pytest.approx(0.8270, abs=2e-3)
    # an equilateral triangle: 3√3/(4π) = 0.4135, i.e. 1.27 EV lost
    assert light_loss_ev(rasterize(parse_shape("triangle"))) == pytest.approx(1.274, abs=0.01)
    assert light_loss_ev(rasterize(parse_shape("round"))) == pytest.approx(0.0, abs=0.005)


@pytest.mark.parametrize("name", ["round", "triangle", "star", "heart"])
def test_every_shape_touches_the_coc_circle_and_stays_inside_it(name):
    pts = outline(parse_shape(name))
    r = np.hypot(pts[:, 0], pts[:, 1])
    assert r.max() == pytest.approx(1.0, abs=1e-9)
    k = rasterize(parse_shape(name))
    n = k.shape[0]
    c = (np.arange(n) + 0.5) / n * 2 - 1
    outside = np.hypot(c[None, :], c[:, None]) > 1 + 1.5 / n
    assert k[outside].max() == 0


def test_orientation_triangle_points_up_and_rotation_is_counter_clockwise():
    k = rasterize(parse_shape("triangle"))
    rows = np.flatnonzero(k.max(1) > 0.5)
    top_width = (k[rows[0] + 2] > 0.5).sum()
    bottom_width = (k[rows[-1] - 2] > 0.5).sum()
    assert top_width < bottom_width  # apex at the top (row 0), base at the bottom
    # rotated by 90° counter-clockwise the apex points left
    k90 = rasterize(parse_shape("triangle@90"))
    cols = np.flatnonzero(k90.max(0) > 0.5)
    assert (k90[:, cols[0] + 2] > 0.5).sum() < (k90[:, cols[-1] - 2] > 0.5).sum()


def test_heart_is_mirror_symmetric_and_not_point_symmetric():
    k = rasterize(parse_shape("heart"))
    assert iou(footprint(k), footprint(k[:, ::-1])) > 0.97
    assert iou(footprint(k), footprint(k[::-1, ::-1])) < 0.85  # the 180° turn is visible


@pytest.mark.parametrize(
    "text,label",
    [
        ("round", "round"),
        ("Hexagon", "polygon6"),
        ("star", "star5"),
        ("star7@10", "star7@10"),
        ("triangle@-30", "polygon3@-30"),
        ("heart", "heart"),
    ],
)
def test_parse_and_label_round_trip(text, label):
    shape = parse_shape(text)
    assert shape.label == label
    assert parse_shape(shape.label) == shape


@pytest.mark.parametrize(
    "text,needle",
    [
        ("blob", "unknown aperture"),
        ("polygon2", "3-16 sides"),
        ("star40", "4-12 sides"),
        ("star@x", "rotation"),
        ("hexagon@nan", "finite"),
    ],
)
def test_bad_shape_names_get_one_line_errors(text, needle):
    with pytest.raises(KernelError, match=needle) as e:
        parse_shape(text)
    assert "\n" not in str(e.value)


def test_user_kernel_is_centred_scaled_to_the_circle_and_matches_the_builtin():
    star = rasterize(parse_shape("star"))
    # the same star drawn smaller in a bigger canvas, as 8-bit grey
    small = rasterize(parse_shape("star"), 64)
    canvas = np.zeros((200, 200))
    canvas[68:132, 68:132] = small
    k = kernel_from_array((canvas * 255).astype(np.uint8), "star.png")
    assert k.shape == star.shape
    assert iou(footprint(k), footprint(star)) > 0.9
    assert open_fraction(k) == pytest.approx(open_fraction(star), rel=0.06)


def test_user_kernel_is_scaled_until_its_farthest_point_touches_the_lens_circle():
    # all open: the square's corners touch the circle, i.e. the square inscribed in it (2/π)
    k = kernel_from_array(np.ones((32, 32)), "square.png")
    assert open_fraction(k) == pytest.approx(2 / np.pi, rel=0.02)


@pytest.mark.parametrize(
    "image,needle",
    [
        (np.zeros((0, 0)), "empty"),
        (np.ones((32, 48)), "must be square"),
        (np.zeros((32, 32)), "no opening"),
        (np.full((32, 32), 0.3), "no opening"),
        (np.ones((4, 4)), "8-2048 px"),
        (np.full((32, 32), np.nan), "finite"),
        (np.ones((32, 32, 3, 2)), "2-D"),
    ],
)
def test_bad_user_kernels_get_one_line_errors_naming_the_file(image, needle):
    with pytest.raises(KernelError, match=needle) as e:
        kernel_from_array(image, "/data/my kernel.png")
    msg = str(e.value)
    assert msg.startswith("/data/my kernel.png: ") and "\n" not in msg


def test_validate_and_normalise():
    k = rasterize(parse_shape("heart"))
    assert validate_kernel(k).dtype == np.float32
    assert normalised(k).sum() == pytest.approx(1.0)
    for bad, needle in (
        (np.zeros((8, 8)), "no opening"),
        (np.ones((8, 9)), "square"),
        (np.array([]), "empty"),
        (k * 2, "in \\[0, 1\\]"),
    ):
        with pytest.raises(KernelError, match=needle):
            validate_kernel(bad, "dof_00_kernel.png")
    with pytest.raises(KernelError):
        ApertureShape("blob")


@pytest.mark.parametrize("blades,rotation_deg", [(3, 0.0), (5, 0.0), (6, 20.0), (9, -35.0)])
def test_cycles_blades_are_the_polygon_label_turned_by_180_over_n_minus_90(blades, rotation_deg):
    # Cycles' vertex k at rotation + π/N + 2πk/N from +x is polygonN@(rotation + 180/N − 90).
    label = f"polygon{blades}@{rotation_deg + 180.0 / blades - 90.0:g}"
    got = cycles_kernel(blades, rotation_deg, 1.0)
    assert got.dtype == np.float32 and got.shape == (KERNEL_SIZE_PX, KERNEL_SIZE_PX)
    assert np.abs(got - rasterize(parse_shape(label))).max() < 1e-5


def test_cycles_round_anamorphic_and_bad_ratios():
    round_ = rasterize(parse_shape("round"))
    for blades in (0, 1, 2):
        assert np.array_equal(cycles_kernel(blades, 40.0, 1.0), round_)
    # 5 blades at rotation 0 point a vertex left (x = −1) and an edge right (x = cos 36°).
    cols = np.flatnonzero(footprint(cycles_kernel(5, 0.0, 1.0)).any(0))
    x_px = (np.array([cols[0], cols[-1] + 1]) / KERNEL_SIZE_PX) * 2 - 1
    assert x_px == pytest.approx([-1.0, np.cos(np.pi / 5)], abs=2.5 / KERNEL_SIZE_PX)
    for blades in (0, 6):
        wide = cycles_kernel(blades, 0.0, 1.0)
        squeezed = cycles_kernel(blades, 0.0, 2.0)
        assert squeezed.sum() == pytest.approx(wide.sum() / 2, rel=0.01)
        assert squeezed[:, :30].max() == 0 and squeezed[:, -30:].max() == 0  # |x| <= 1/2
    assert cycles_kernel(6, 0.0, 1.0, size_px=32).shape == (32, 32)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(KernelError, match="aperture_ratio must be a finite number > 0"):
            cycles_kernel(6, 0.0, bad)
