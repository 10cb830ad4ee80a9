"""The computed bokeh discs of highlight emitters (synth.highlight_splat), pure numpy: energy,
size, orientation and occlusion; tests/synth/test_exact_highlights.py checks them against Cycles."""

import math

import numpy as np
import pytest

from optics.aperture import cycles_kernel, rasterize_polygon
from optics.coc import coc_cycles_px
from synth.highlight_splat import (
    EMITTER_AREA_FACTOR,
    Hidden,
    LensView,
    add_layer,
    disc_points,
    footprint,
    splat,
)

VIEW = LensView(
    focal_length_m=0.1,
    sensor_width_m=0.024,
    width_px=96,
    height_px=64,
    f_number=1.4,
    focus_distance_m=2.0,
)
ROUND = cycles_kernel(0, 0.0, 1.0)


def _frame(view, centre_m, radius_m, mask=ROUND, blocked=None):
    """The disc in a frame; ``blocked``: the lens points (a grid) whose rays the scene blocks
    (every point of the emitter alike)."""
    fp = footprint(view, centre_m, radius_m)
    if blocked is None:
        hidden = None
    else:  # every point of the emitter alike
        pts = disc_points(math.sqrt(EMITTER_AREA_FACTOR) * radius_m)
        hidden = Hidden(pts, np.repeat(blocked[None].astype(float), len(pts), axis=0))
    out = splat(view, fp, mask, hidden)
    frame = np.zeros((view.height_px, view.width_px, 3))
    if out is not None:
        add_layer(frame, out[0], out[1], (1.0, 1.0, 1.0))
    return frame[..., 0], fp


def _in_focus_energy(view, centre_m, radius_m):
    """``π r_e²`` for the emitter's pinhole radius (the 12-gon's area)."""
    z = -centre_m[2]
    r = radius_m * view.focal_length_m / (z * view.pitch_m)
    return math.pi * r * r * EMITTER_AREA_FACTOR


@pytest.mark.parametrize("z", [0.8, 1.5, 2.0, 3.0, 8.0])
def test_energy_is_the_in_focus_energy(z):
    """Defocused or not, in front of the focus plane or behind it: the disc's sum is the
    emitter's in-focus image (radiance × its pinhole area)."""
    centre = (0.0, 0.0, -z)
    radius = 0.004 * z
    img, fp = _frame(VIEW, centre, radius)
    assert img.sum() == pytest.approx(_in_focus_energy(VIEW, centre, radius), rel=2e-3)
    assert img.min() >= 0


def test_disc_size_is_the_cycles_coc():
    """The disc's diameter (its lit extent across the middle row) is Cycles' CoC at the
    emitter's depth, within the emitter's own size and a pixel."""
    z = 6.0
    img, fp = _frame(VIEW, (0.0, 0.0, -z), 0.002)
    coc = abs(float(coc_cycles_px(100.0, 1.4, 2.0, z, 24.0, 96)))
    assert 2 * fp.coc_radius_px == pytest.approx(coc, rel=1e-9)
    row = img[32] + img[31]
    lit = np.flatnonzero(row > 0.05 * row.max())
    width = lit[-1] - lit[0] + 1
    assert abs(width - coc) <= 2 * fp.emitter_radius_px + 2
    assert fp.k_m_per_px < 0  # behind the focus plane


def _centroid(img):
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    return (xx * img).sum() / img.sum(), (yy * img).sum() / img.sum()


def test_kernel_as_it_is_behind_focus_and_turned_in_front():
    """A kernel open only on its right half: behind the focus plane the disc's light lies right
    of the emitter's pinhole image, in front of it left (turned by 180°), as Cycles renders."""
    n = ROUND.shape[0]
    right = ROUND.copy()
    right[:, : n // 2] = 0
    for z, side in ((6.0, +1), (1.0, -1)):
        img, fp = _frame(VIEW, (0.0, 0.0, -z), 0.002, mask=right)
        cx, _ = _centroid(img)
        centre_col = VIEW.width_px / 2 + fp.centre_px[0] - 0.5
        assert np.sign(cx - centre_col) == side
        assert abs(cx - centre_col) > 0.3 * fp.coc_radius_px
        # up/down: a top-half kernel goes up (smaller rows) behind focus
    top = ROUND.copy()
    top[n // 2 :, :] = 0
    img, fp = _frame(VIEW, (0.0, 0.0, -6.0), 0.002, mask=top)
    _, cy = _centroid(img)
    assert cy < VIEW.height_px / 2 - 0.5 - 0.3 * fp.coc_radius_px


def test_blocked_rays_scale_and_cut_the_disc():
    """Blocking the rays from the left half of the lens halves the energy and darkens the
    disc's left side (behind the focus plane, the kernel as it is); blocking them all leaves
    nothing; blocking a ray to one point of the emitter takes that point's share."""
    centre, radius = (0.0, 0.0, -6.0), 0.002
    full, _ = _frame(VIEW, centre, radius)
    left = np.zeros((64, 64), bool)
    left[:, :32] = True
    half, fp = _frame(VIEW, centre, radius, blocked=left)
    assert half.sum() == pytest.approx(full.sum() / 2, rel=0.02)
    cx, _ = _centroid(half)
    assert cx > VIEW.width_px / 2 - 0.5 + 0.3 * fp.coc_radius_px
    none, _ = _frame(VIEW, centre, radius, blocked=np.ones((64, 64), bool))
    assert none.sum() < 5e-3 * full.sum()  # up to the 19-point quadrature of the emitter
    # two points of the emitter, one of them hidden from the whole lens: half the light
    grids = np.stack([np.zeros((64, 64)), np.ones((64, 64))])
    two = Hidden(np.array([[-0.001, 0.0], [0.001, 0.0]]), grids)
    fp = footprint(VIEW, centre, radius)
    tile, _ = splat(VIEW, fp, ROUND, two)
    assert tile.sum() == pytest.approx(full.sum() / 2, rel=0.03)


def test_frame_border_keeps_the_disc_brightness():
    """A disc cut by the frame keeps its in-frame pixels' values: the normalisation counts
    the whole footprint, not the part inside the frame."""
    z, radius = 6.0, 0.002
    inside, fp = _frame(VIEW, (0.0, 0.0, -z), radius)
    # the same emitter moved so that its disc's centre sits on the left border
    x = -(VIEW.width_px / 2) * VIEW.pitch_m * z / VIEW.focal_length_m
    cut, fp2 = _frame(VIEW, (x, 0.0, -z), radius)
    peak_inside = inside[28:36].max()
    assert cut.max() == pytest.approx(peak_inside, rel=0.05)
    assert cut.sum() == pytest.approx(inside.sum() / 2, rel=0.08)


def test_polygon_shape_shows():
    """A triangle kernel gives a triangle: its lit area is the triangle's share of the CoC
    square, not a disc's."""
    tri = rasterize_polygon(
        np.array([[np.cos(t), np.sin(t)] for t in np.pi / 2 + 2 * np.pi * np.arange(3) / 3]), 128
    )
    big = LensView(0.1, 0.024, 200, 200, 1.0, 1.0)
    img, fp = _frame(big, (0.0, 0.0, -8.0), 0.002, mask=tri)
    lit = (img > 0.5 * img.max()).sum()
    area_tri = tri.mean() * (2 * fp.coc_radius_px) ** 2
    assert lit == pytest.approx(area_tri, rel=0.1)
    disc_area = math.pi * fp.coc_radius_px**2
    assert lit < 0.6 * disc_area


def test_behind_the_camera_and_outside_the_frame():
    assert footprint(VIEW, (0.0, 0.0, 1.0), 0.01) is None
    fp = footprint(VIEW, (5.0, 0.0, -2.0), 0.01)  # far right, in focus
    assert splat(VIEW, fp, ROUND) is None
