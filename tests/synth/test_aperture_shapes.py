"""Truth check for shaped apertures: the disc Cycles renders is the kernel scaled to the CoC.

One render per built-in shape and for a user kernel (a crescent), and one with Cycles' own
round aperture as the exposure reference, of three small emitters on a black world: behind the
focus plane on the axis and in a corner, and in front of it (where the shape shows rotated by
180°). The prediction for each emitter is the kernel resampled to the Cycles CoC
(``optics.bokeh.aperture_kernel``: sign and rotation included) convolved with the emitter's own
in-focus disc. Render and prediction are smoothed alike (3×3 mean, against Monte Carlo noise)
and thresholded at half the prediction's peak; the footprints must overlap with IoU ≥ 0.8 and
their sizes (√area) agree within 3 %. Exposure: each footprint's energy equals the Cycles round
aperture's within 3 % (the light loss is compensated).
"""

import numpy as np
import OpenEXR
import pytest
from scipy.ndimage import uniform_filter
from scipy.signal import fftconvolve

from optics import coc_cycles_px
from optics.aperture import (
    cycles_kernel,
    iou,
    kernel_from_array,
    light_loss_ev,
    parse_shape,
    rasterize,
)
from optics.bokeh import aperture_kernel, disc_kernel
from synth.kernels import kernel_label
from synth.settings import RenderSettings
from synth.spec import DofSpec, HighlightSpec

pytestmark = pytest.mark.slow

W = 192
SENSOR_MM, F_MM, N, S_M = 36.0, 50.0, 0.8, 0.35
EMITTER_PX = 4.0
# (column, row) of each emitter's centre in pixels (centres at .5), depth in m
EMITTERS = [(96.5, 96.5, 2.5), (160.5, 32.5, 2.5), (40.5, 150.5, 0.17)]
SHAPES = ["round", "hexagon", "triangle", "star", "heart"]


def _emitter(col, row, z):
    tan_h = SENSOR_MM / 2 / F_MM
    x = (col / W * 2 - 1) * tan_h * z
    y = -(row / W * 2 - 1) * tan_h * z
    radius = EMITTER_PX / W * SENSOR_MM / F_MM * z / 2
    return HighlightSpec((x, y, -z), radius, 10.0, (1.0, 1.0, 1.0))


def _render(tmp_path, spec_tools, aperture, kernels=None, blades=0, rotation_deg=0.0):
    """The three emitters through ``aperture`` (or Cycles' own ``blades``): the DoF render's
    linear luminance and the files written."""
    from synth.blender.render import render_scene

    out = tmp_path / "cycles" if aperture is None else tmp_path / aperture.replace("@", "_")
    out.mkdir()
    spec = spec_tools.make_spec(
        width=W,
        height=W,
        focal_mm=F_MM,
        sensor_mm=SENSOR_MM,
        highlights=[_emitter(*e) for e in EMITTERS],
        dof=[DofSpec(N, S_M, blades, rotation_deg, 1.0, aperture)],
    )
    settings = RenderSettings(samples=512, denoise=False, exr=True, adaptive_sampling=False)
    result = render_scene(spec, out, settings, kernels=kernels)
    with OpenEXR.File(str(out / "dof_00.exr")) as f:
        ch = f.parts[0].channels
        rgb = ch["RGB"].pixels if "RGB" in ch else np.stack([ch[k].pixels for k in "RGB"], -1)
    return np.asarray(rgb, dtype=np.float64).mean(-1), result.files


def _windows(lum):
    """Per emitter: (render window, prediction-ready geometry)."""
    for col, row, z in EMITTERS:
        radius = float(coc_cycles_px(F_MM, N, S_M, z, SENSOR_MM, W)) / 2  # signed
        half = int(abs(radius) + 8)
        c, r = int(col), int(row)
        yield lum[r - half : r + half + 1, c - half : c + half + 1], radius, half


def _prediction(kernel, radius, half):
    k = aperture_kernel(radius, kernel)
    pred = fftconvolve(k, disc_kernel(EMITTER_PX / 2))
    out = np.zeros((2 * half + 1, 2 * half + 1))
    o = half - pred.shape[0] // 2
    out[o : o + pred.shape[0], o : o + pred.shape[1]] = pred
    return out


_ROUND_ENERGY: list = []  # rendered once per module


@pytest.fixture
def cycles_round(tmp_path_factory, spec_tools):
    """Each emitter's energy with Cycles' own round aperture (the exposure reference)."""
    if not _ROUND_ENERGY:
        lum, _ = _render(tmp_path_factory.mktemp("round"), spec_tools, None)
        _ROUND_ENERGY.extend(w.sum() for w, _, _ in _windows(lum))
    return _ROUND_ENERGY


def _crescent(size=200):
    """A user kernel no built-in has (and not point-symmetric): a disc with a bite out of it."""
    y, x = np.mgrid[:size, :size] + 0.5
    r = size / 2
    disc = np.hypot(x - r, y - r) <= r
    return (disc & ~(np.hypot(x - 1.45 * r, y - 0.6 * r) <= 0.75 * r)).astype(np.uint8) * 255


@pytest.mark.parametrize("name", [*SHAPES, "crescent.png"])
def test_shaped_disc_matches_the_kernel_scaled_to_the_coc(tmp_path, spec_tools, name, cycles_round):
    if name.endswith(".png"):  # a user kernel, as synth.kernels reads it
        kernel = kernel_from_array(_crescent(), name)
        label, kernels = kernel_label(kernel), {kernel_label(kernel): kernel}
    else:
        label, kernels = parse_shape(name).label, None
        kernel = rasterize(parse_shape(label))
    lum, files = _render(tmp_path, spec_tools, label, kernels)
    assert files["dof_00_kernel"] == "dof_00_kernel.png"
    report = []
    for (window, radius, half), energy_round in zip(_windows(lum), cycles_round, strict=True):
        assert abs(radius) > 15
        pred = _prediction(kernel, radius, half) * window.sum()
        level = 0.5 * uniform_filter(pred, 3).max()
        got = uniform_filter(window, 3) >= level
        want = uniform_filter(pred, 3) >= level
        overlap = iou(got, want)
        size = np.sqrt(got.sum() / want.sum())
        exposure = window.sum() / energy_round
        report.append((round(radius, 1), round(overlap, 3), round(size, 3), round(exposure, 3)))
    print(name, f"light loss {light_loss_ev(kernel):.2f} EV", report)
    for _radius, overlap, size, exposure in report:
        assert overlap >= 0.8, report
        assert size == pytest.approx(1.0, abs=0.03), report
        assert exposure == pytest.approx(1.0, abs=0.03), report


@pytest.mark.parametrize("blades,rotation_deg", [(5, 0.0), (6, 20.0)])
def test_the_trainers_kernel_of_cycles_blades_matches_the_render(
    tmp_path, spec_tools, blades, rotation_deg
):
    """``optics.aperture.cycles_kernel`` (the trainer's shape condition of a render with Cycles'
    own blades) has the orientation Cycles renders: 5 blades at rotation 0 point a vertex left."""
    lum, _ = _render(tmp_path, spec_tools, None, blades=blades, rotation_deg=rotation_deg)
    kernel = cycles_kernel(blades, rotation_deg, 1.0)
    turned = cycles_kernel(blades, rotation_deg + 180.0 / blades, 1.0)  # the other orientation
    for window, radius, half in _windows(lum):
        scores = []
        for k in (kernel, turned):
            pred = _prediction(k, radius, half) * window.sum()
            level = 0.5 * uniform_filter(pred, 3).max()
            scores.append(iou(uniform_filter(window, 3) >= level, uniform_filter(pred, 3) >= level))
        assert scores[0] >= 0.9 and scores[0] > scores[1] + 0.03, scores
