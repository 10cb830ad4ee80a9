"""The classical layered bokeh renderer (optics.bokeh): CoC, energy, edges, occlusion, errors."""

import time

import numpy as np
import pytest

from optics import defocus_level, render_bokeh
from optics.bokeh import (
    aperture_kernel,
    band_limited_kernel,
    disc_kernel,
    layer_grid,
    linear_to_srgb,
    signed_coc_radius_px,
    srgb_to_linear,
)

RNG = np.random.default_rng(12)


def disc_edge_width(radius: float) -> float:
    """10–90 % width of the edge spread function of an ideal disc of radius ``radius``."""
    x = np.linspace(-radius, radius, 200001)
    area = x * np.sqrt(radius**2 - x**2) + radius**2 * np.arcsin(x / radius)
    esf = 0.5 + area / (np.pi * radius**2)
    return float(np.interp(0.9, esf, x) - np.interp(0.1, esf, x))


def measured_edge_width(profile: np.ndarray) -> float:
    """10–90 % width (px, linear interpolation) of a rising 0 → 1 edge profile."""
    i = np.arange(profile.size, dtype=np.float64)
    return float(np.interp(0.9, profile, i) - np.interp(0.1, profile, i))


def step_edge(k: float) -> np.ndarray:
    """Middle row of a 0 | 1 step edge (constant disparity 1, focus 0: radius = K px).

    The frame is taller than the disc, so the border does not cut the kernel on that row.
    """
    h, w = 2 * int(k) + 9, 256
    img = np.zeros((h, w, 3))
    img[:, w // 2 :] = 1.0
    out = render_bokeh(img, np.ones((h, w)), k, 0.0)
    return out[h // 2, :, 0]


# --- the CoC is the GenRefocus one --------------------------------------------------------


def test_signed_radius_is_100_times_the_defocus_level_with_the_coc_sign():
    disp = np.array([0.0, 0.2, 0.5, 0.8, 3.0])
    r = signed_coc_radius_px(disp, 0.5, 40.0)
    expected = 100 * defocus_level(disp, np.asarray(0.5), np.asarray(40.0))
    assert np.abs(r) == pytest.approx(expected, abs=1e-12)
    # K·|Δdisp| = 20, 12, 0, 12 px; clipped at 100 for Δdisp = 2.5 (K·Δ = 100 exactly here).
    assert r == pytest.approx([20.0, 12.0, 0.0, -12.0, -100.0], abs=1e-12)
    assert signed_coc_radius_px(5.0, 0.0, 80.0) == pytest.approx(-100.0)  # 400 px clipped


def test_layer_grid_steps_at_most_a_pixel_up_to_10_px_and_10_percent_above():
    s = np.linspace(-100, 100, 20001)
    index, radii = layer_grid(s)
    assert radii[0] == pytest.approx(100.0) and radii[-1] == pytest.approx(-100.0)
    steps = -np.diff(radii)
    small = np.maximum(np.abs(radii[:-1]), np.abs(radii[1:])) <= 10
    assert steps.min() > 0
    assert steps[small].max() <= 1.0 + 1e-9
    assert (steps / np.maximum(np.abs(radii[:-1]), np.abs(radii[1:])))[~small].max() < 0.1
    assert len(radii) == 68  # ceil(2 · 10 · (1 + ln 10)) + 1
    # Every pixel is within half a step of its layer: 0.5 px, or ~5 % of its radius above 10 px.
    assert (np.abs(s - radii[index]) <= np.maximum(0.5, 0.055 * np.abs(s)) + 1e-9).all()
    # One or two distinct radii are kept exactly; the cap holds.
    assert layer_grid(np.full(5, 7.3))[1] == pytest.approx([7.3])
    assert layer_grid(np.array([-3.7, 42.1]))[1][[0, -1]] == pytest.approx([42.1, -3.7])
    assert len(layer_grid(s, max_layers=16)[1]) == 16


def test_disc_kernel_is_normalised_and_has_the_disc_area():
    for r in (0.6, 1.0, 3.0, 12.5, 40.0):
        kk = aperture_kernel(r)
        assert kk.sum() == pytest.approx(1.0, abs=1e-12)
        assert kk.shape == (2 * int(np.floor(r + 0.5)) + 1,) * 2
        if r >= 3:
            assert 1.0 / kk.max() == pytest.approx(np.pi * r * r, rel=0.08)  # flat top = 1/area
    assert aperture_kernel(0.49).shape == (1, 1)
    for r in (0.5, 2.0, 12.5):
        assert np.array_equal(disc_kernel(r), aperture_kernel(r))  # the public round aperture
    assert disc_kernel(2.0).sum() == pytest.approx(1.0, abs=1e-12)


def _response(k: np.ndarray, omega: float) -> float:
    """A kernel's frequency response at ``omega`` (rad/px) along its rows."""
    x = np.arange(k.shape[1]) - k.shape[1] // 2
    return float((k.sum(axis=0) * np.cos(omega * x)).sum())


def _disc_response(r: float, omega: float) -> float:
    """A lens's: the round aperture of radius ``r`` px, ``2 J1(ωr) / (ωr)``."""
    from scipy.special import j1

    return float(2 * j1(omega * r) / (omega * r))


def test_the_band_limited_kernel_blurs_from_radius_zero_up_as_a_lens_does():
    """Inside the band its response is the round aperture's own, ``2 J1(ωr)/(ωr)``, from
    radius 0 up (the identity at 0); the anti-aliased disc is the identity up to 0.5 px and past
    it, where a lens has blurred the highest frequencies by a fifth already. At larger radii the
    band-limited kernel stays the lens's, while the anti-aliased disc is the lens's times a
    pixel box's response (``sinc(ω/2π)``): on an image that already holds a render's box pixel
    filter it blurs twice."""
    assert band_limited_kernel(0.0).shape == (1, 1)
    for r in (0.2, 0.45, 0.8, 1.2, 1.9):
        k = band_limited_kernel(r)
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
        assert k.shape == ((2 * (int(np.ceil(r)) + 3) + 1,) * 2)
        for omega in (np.pi / 4, np.pi / 2, 0.9 * np.pi):
            assert _response(k, omega) == pytest.approx(_disc_response(r, omega), abs=0.03), r
        assert k.min() > -0.05  # the sinc's lobes stay small
    half = [
        _response(aperture_kernel(r, band_limited=True), np.pi / 2) for r in (0.1, 0.3, 0.6, 1.0)
    ]
    assert half == sorted(half, reverse=True) and half[0] < 1.0
    assert aperture_kernel(0.3).shape == (1, 1)  # the default is unchanged
    assert _response(disc_kernel(0.5), 0.9 * np.pi) == 1.0 > 0.8 > _disc_response(0.5, 0.9 * np.pi)
    for r in (2.0, 3.3, 6.0):
        omega = 1.2 / r  # inside the main lobe, where the response is large enough to compare
        lens = _disc_response(r, omega)
        band = _response(aperture_kernel(r, band_limited=True), omega)
        aa = _response(aperture_kernel(r), omega)
        assert band == pytest.approx(lens, abs=0.01), r
        assert aa == pytest.approx(lens * np.sinc(omega / (2 * np.pi)), abs=0.02), r


def test_the_band_limited_kernel_takes_an_aperture_shape_and_turns_it_in_front():
    tri = np.zeros((32, 32))
    for row in range(32):
        tri[row, 16 - row // 2 : 16 + row // 2 + 1] = 1.0
    k = aperture_kernel(1.5, tri, band_limited=True)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(aperture_kernel(-1.5, tri, band_limited=True), k[::-1, ::-1])
    rows = k.sum(axis=1)
    centre = k.shape[0] // 2
    assert rows[centre + 1] > rows[centre - 1]  # the triangle's wide base is below


def test_band_limited_rendering_blurs_a_texture_a_little_at_a_small_k():
    """At radius 0.3 px the default renderer returns the image; band_limited=True blurs it, less
    than at radius 1 px."""
    img = RNG.random((40, 40, 3))
    disp = np.full((40, 40), 0.2)

    def lap(x):
        return np.var(x[2:, 1:-1] + x[:-2, 1:-1] + x[1:-1, 2:] + x[1:-1, :-2] - 4 * x[1:-1, 1:-1])

    same = render_bokeh(img, disp, 1.0, 0.5)  # radius 0.3 px
    assert np.array_equal(same, img)
    small = render_bokeh(img, disp, 1.0, 0.5, band_limited=True, layer_step_px=0.25)
    large = render_bokeh(img, disp, 1.0 / 0.3, 0.5, band_limited=True, layer_step_px=0.25)
    assert lap(img[..., 0]) > lap(small[..., 0]) > lap(large[..., 0])
    assert lap(small[..., 0]) > 0.7 * lap(img[..., 0])


# --- identities and energy ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_zero_k_returns_the_input_exactly(dtype):
    img = RNG.random((40, 56, 3)) * (255 if dtype == np.uint8 else 3.0) - (
        0 if dtype == np.uint8 else 1.0
    )
    img = img.astype(dtype)
    out = render_bokeh(img, RNG.random((40, 56)) * 2, 0.0, 0.7)
    assert out.dtype == dtype
    assert np.array_equal(out, img)


def test_everything_at_the_focus_disparity_returns_the_input_exactly():
    img = RNG.random((48, 48, 3)).astype(np.float32)
    out = render_bokeh(img, np.full((48, 48), 0.37), 80.0, 0.37)
    assert np.array_equal(out, img)
    u8 = (RNG.random((20, 30, 3)) * 255).astype(np.uint8)
    assert np.array_equal(render_bokeh(u8, np.full((20, 30), 0.5), 30.0, 0.5, srgb=True), u8)


def test_constant_colour_stays_constant_whatever_the_disparity():
    img = np.broadcast_to([0.3, 0.5, 0.7], (64, 64, 3)).copy()
    out = render_bokeh(img, RNG.random((64, 64)) * 3, 40.0, 1.0)
    assert np.abs(out - img).max() < 1e-9
    assert out.mean(axis=(0, 1)) == pytest.approx([0.3, 0.5, 0.7], abs=1e-6)


def test_constant_disparity_preserves_energy_away_from_borders():
    # A texture inside a black margin wider than the 12 px radius: nothing reaches the border,
    # so the blur only moves energy around.
    img = np.zeros((96, 96, 3))
    img[24:72, 24:72] = RNG.random((48, 48, 3))
    out = render_bokeh(img, np.full((96, 96), 0.6), 30.0, 0.2)  # radius 12 px
    assert out.sum(axis=(0, 1)) == pytest.approx(img.sum(axis=(0, 1)), rel=1e-9)
    assert np.abs(out.mean(axis=(0, 1)) - img.mean(axis=(0, 1))).max() < 1e-6
    assert out[30:66, 30:66].std() < 0.5 * img[30:66, 30:66].std()  # it did blur
    # A point spreads over the disc of radius 12 and nowhere else.
    dot = np.zeros((64, 64, 3))
    dot[32, 32] = 1.0
    spot = render_bokeh(dot, np.full((64, 64), 0.6), 30.0, 0.2)[..., 0]
    yy, xx = np.mgrid[:64, :64]
    dist = np.hypot(yy - 32, xx - 32)
    assert spot.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.abs(spot[dist > 12.5 + 0.75]).max() < 1e-12
    assert spot[dist < 11.5].std() < 1e-9 * spot.max() + 1e-12  # a flat disc


# --- edges ----------------------------------------------------------------------------------


def test_step_edge_width_grows_with_k_and_matches_the_disc():
    ks = [0.0, 2.0, 5.0, 10.0, 20.0, 40.0]
    widths = [measured_edge_width(step_edge(k)) for k in ks]
    assert np.all(np.diff(widths) > 0), widths
    assert widths[0] == pytest.approx(0.8, abs=1e-9)  # a sharp step: one pixel, 0.1 → 0.9
    for k, w in zip(ks[1:], widths[1:], strict=True):
        assert w == pytest.approx(disc_edge_width(k), abs=0.25), (k, w, disc_edge_width(k))


def test_edge_width_saturates_at_the_100_px_clip():
    # K·Δdisp = 200 and 400 px both clip to 100 px, so the two edges are the same.
    h, w = 209, 512
    img = np.zeros((h, w, 3))
    img[:, w // 2 :] = 1.0
    a = render_bokeh(img, np.full((h, w), 2.0), 100.0, 0.0)
    b = render_bokeh(img, np.full((h, w), 4.0), 100.0, 0.0)
    assert np.abs(a - b).max() < 1e-12
    width = measured_edge_width(a[h // 2, :, 0])
    assert width == pytest.approx(disc_edge_width(100.0), abs=1.0)


# --- occlusion order ------------------------------------------------------------------------


def square_scene(n=96, lo=32, hi=64):
    """A blue square (disparity 1) over a red/green striped background (disparity 0.1)."""
    bg = np.zeros((n, n, 3))
    stripes = (np.arange(n) // 3) % 2 == 0
    bg[:, stripes, 0] = 1.0
    bg[:, ~stripes, 1] = 1.0
    img = bg.copy()
    img[lo:hi, lo:hi] = [0.0, 0.0, 1.0]
    disp = np.full((n, n), 0.1)
    disp[lo:hi, lo:hi] = 1.0
    inside = np.zeros((n, n), bool)
    inside[lo:hi, lo:hi] = True
    return img, disp, inside


def distance_outside(inside: np.ndarray) -> np.ndarray:
    """Chebyshev distance (px) of each pixel to the square ``inside`` (0 inside)."""
    ys, xs = np.nonzero(inside)
    yy, xx = np.mgrid[: inside.shape[0], : inside.shape[1]]
    dy = np.maximum(np.maximum(ys.min() - yy, yy - ys.max()), 0)
    dx = np.maximum(np.maximum(xs.min() - xx, xx - xs.max()), 0)
    return np.maximum(dy, dx)


def test_sharp_near_square_hides_the_blurred_far_background():
    img, disp, inside = square_scene()
    out = render_bokeh(img, disp, 20.0, 1.0)  # square in focus, background radius 18 px
    core = np.zeros_like(inside)
    core[33:63, 33:63] = True  # the square's interior beyond one pixel
    assert np.abs(out[core] - [0.0, 0.0, 1.0]).max() < 1e-9  # no red or green in it
    assert np.abs(out[inside] - [0.0, 0.0, 1.0]).max() < 1e-9  # not even at its edge
    # The in-focus square does not spread either, and the background is blurred.
    far = distance_outside(inside) >= 1
    assert np.abs(out[far][:, 2]).max() < 1e-9
    assert out[far][:, 0].std() < 0.25 * img[far][:, 0].std()
    # The background next to the square is filled from the visible background (no dark halo).
    assert out[far].sum(axis=1) == pytest.approx(1.0, abs=1e-9)


def test_blurred_near_square_spreads_over_the_sharp_far_background():
    img, disp, inside = square_scene()
    out = render_bokeh(img, disp, 10.0, 0.1)  # background in focus, square radius 9 px
    dist = distance_outside(inside)
    blue_out = out[..., 2][(dist >= 1) & (dist <= 9)]
    assert blue_out.max() > 0.3  # the square spreads over the background ...
    mid = 48  # ... as a disc blur of its edge (the middle of a side, 2, 4 and 6 px out)
    for d in (2, 4, 6):
        r = 9.0
        x = -(d - 0.5)  # pixel 32 - d lies d - 0.5 px outside the edge (at 31.5)
        expected = 0.5 + (x * np.sqrt(r * r - x * x) + r * r * np.arcsin(x / r)) / (np.pi * r * r)
        assert out[mid, 32 - d, 2] == pytest.approx(expected, abs=0.05), d
    # Beyond its reach the sharp background is untouched.
    far = dist >= 11
    assert np.abs(out[far] - img[far]).max() < 1e-9


# --- apertures, sRGB, speed ---------------------------------------------------------------


def test_custom_kernel_is_scaled_to_the_coc_and_rotated_in_front_of_focus():
    box = np.ones((5, 5))
    k = aperture_kernel(6.0, box)
    assert k.sum() == pytest.approx(1.0)
    assert k.shape == (13, 13) and (k > 0).all()  # a full 13 px square for a 12 px diameter
    disc = np.hypot(*np.mgrid[-15:16, -15:16]) <= 15.5
    assert np.abs(aperture_kernel(8.0, disc.astype(float)) - aperture_kernel(8.0)).sum() < 0.15
    tri = np.tril(np.ones((9, 9)))  # asymmetric
    assert np.allclose(aperture_kernel(-7.0, tri), aperture_kernel(7.0, tri)[::-1, ::-1])
    dot = np.zeros((49, 49, 3))
    dot[24, 24] = 1.0
    behind = render_bokeh(dot, np.full((49, 49), 0.0), 20.0, 0.3, kernel=tri)[..., 0]
    front = render_bokeh(dot, np.full((49, 49), 0.6), 20.0, 0.3, kernel=tri)[..., 0]
    assert behind.sum() == pytest.approx(1.0) and front.sum() == pytest.approx(1.0)
    assert np.allclose(front, behind[::-1, ::-1], atol=1e-12)
    assert not np.allclose(front, behind, atol=1e-3)


def test_srgb_round_trip_and_linear_light_blur():
    v = np.linspace(0, 1, 1001)
    assert srgb_to_linear(linear_to_srgb(v)) == pytest.approx(v, abs=1e-12)
    assert srgb_to_linear(0.5) == pytest.approx(0.21404, abs=1e-5)
    # A 0 | 1 edge blurred in linear light reads brighter than 0.5 (sRGB) in the middle.
    img = np.zeros((8, 64, 3))
    img[:, 32:] = 1.0
    out = render_bokeh(img, np.ones((8, 64)), 6.0, 0.0, srgb=True)
    assert out[4, 31, 0] > 0.55 and out[4, 31, 0] == pytest.approx(
        float(linear_to_srgb(render_bokeh(img, np.ones((8, 64)), 6.0, 0.0)[4, 31, 0])), abs=1e-12
    )


def test_renders_128_px_well_under_a_second():
    n = 128
    yy, xx = np.mgrid[:n, :n] / n
    disp = 0.05 + 0.9 * yy + 0.5 * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.04)
    img = RNG.random((n, n, 3))
    t0 = time.perf_counter()
    render_bokeh(img, disp, 80.0, 0.4)
    assert time.perf_counter() - t0 < 0.5


# --- input validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"disparity": np.zeros((8, 9))}, "disparity shape"),
        ({"image": np.zeros((8, 8))}, "image must be H×W×C"),
        ({"k": -1.0}, "k must be finite and >= 0"),
        ({"k": float("nan")}, "k must be finite"),
        ({"disp_focus": float("inf")}, "disp_focus must be finite"),
        ({"image": np.full((8, 8, 3), np.nan)}, "image has 192 non-finite"),
        ({"disparity": np.full((8, 8), np.inf)}, "disparity has 64 non-finite"),
        ({"disparity": np.full((8, 8), -1.0)}, "disparity has 64 negative"),
        ({"kernel": np.ones((3, 4))}, "kernel must be a square"),
        ({"kernel": np.zeros((3, 3))}, "kernel must be finite, >= 0 and not all zero"),
    ],
)
def test_bad_input_is_a_one_line_value_error(kwargs, match):
    args = {"image": np.zeros((8, 8, 3)), "disparity": np.ones((8, 8)), "k": 5.0}
    args["disp_focus"] = 0.5
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as e:
        render_bokeh(**args)
    assert "\n" not in str(e.value)


def test_the_band_limited_kernel_of_a_shape_is_its_bilinear_samples_reconstructed():
    """The shaped path folds the bilinear sampling into the sinc reconstruction, per axis
    (separable, so exact); it equals sampling the shape on the fine grid first."""
    from optics.bokeh import BAND_SUPERSAMPLE, SINC_MARGIN_PX, _sample_shape

    shape = RNG.random((24, 24))
    for r in (0.3, 2.5, 11.0):
        half = int(np.ceil(r)) + SINC_MARGIN_PX
        offsets = (np.arange(BAND_SUPERSAMPLE) + 0.5) / BAND_SUPERSAMPLE - 0.5
        fine = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
        d = np.arange(-half, half + 1, dtype=np.float64)
        sinc = np.sinc(d[:, None] - fine[None, :])
        w = sinc @ _sample_shape(shape, fine / r) @ sinc.T
        assert np.allclose(band_limited_kernel(r, shape), w / w.sum(), rtol=0, atol=1e-12), r
