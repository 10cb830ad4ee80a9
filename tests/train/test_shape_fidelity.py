"""Shape fidelity of isolated highlights (train.evaluate.shape_fidelity) on hand-made frames."""

import numpy as np
import pytest
from scipy import ndimage

import optics
from optics.aperture import parse_shape, rasterize
from train.evaluate.shape_fidelity import find_highlights, footprint, level_set, score_render

H = W = 96
K, DISP_FOCUS = 30.0, 1.0  # the spot at disparity 0.5: a CoC radius of 15 px behind focus


def _frame(spots=((48, 48),), spot_disp=0.5, background=0.05, background_disp=0.2):
    aif = np.full((H, W, 3), background)
    disp = np.full((H, W), background_disp)
    for y, x in spots:
        aif[y : y + 2, x : x + 2] = 1.0
        disp[y : y + 2, x : x + 2] = spot_disp
    return aif, disp


def _scores(aif, disp, kernel, **images):
    scores, highlights = score_render(aif, disp, K, DISP_FOCUS, kernel, images)
    return {n: (np.mean(v["iou_kernel"]), np.mean(v["iou_cycles"])) for n, v in scores.items()}, (
        highlights
    )


@pytest.mark.parametrize("name", ["triangle", "star", "heart"])
def test_the_true_shape_scores_high_and_a_disc_low(name):
    aif, disp = _frame()
    kernel = rasterize(parse_shape(name))
    truth = optics.render_bokeh(aif, disp, K, DISP_FOCUS, kernel=kernel)
    disc = optics.render_bokeh(aif, disp, K, DISP_FOCUS)
    clipped = np.clip(0.05 + (truth - 0.05) * 30, 0, 1)  # far above white, as 8-bit shows it
    s, highlights = _scores(aif, disp, kernel, cycles=truth, disc=disc, clipped=clipped)
    assert len(highlights) == 1 and highlights[0].radius_px == pytest.approx(15.0)
    assert s["cycles"] == pytest.approx((1.0, 1.0), abs=0.08)
    assert s["clipped"][0] > 0.85 and s["clipped"][1] > 0.8
    assert s["disc"][0] < 0.7 and s["disc"][0] < s["cycles"][0] - 0.25  # measured 0.53-0.66


def test_in_front_of_the_focus_plane_the_shape_is_turned():
    aif, disp = _frame(spot_disp=1.5, background_disp=1.4)  # radius -15 px, nothing nearer
    kernel = rasterize(parse_shape("triangle"))
    truth = optics.render_bokeh(aif, disp, K, DISP_FOCUS, kernel=kernel)  # turned by 180°
    unturned = optics.render_bokeh(aif, disp, K, DISP_FOCUS, kernel=kernel[::-1, ::-1])
    s, highlights = _scores(aif, disp, kernel, cycles=truth, unturned=unturned)
    assert highlights[0].radius_px == pytest.approx(-15.0)
    assert s["cycles"][0] > 0.9 and s["unturned"][0] < 0.7


@pytest.mark.parametrize(
    "case",
    ["depth_missed", "occluded", "bright_background", "neighbour", "in_focus", "at_border"],
)
def test_highlights_whose_shape_cannot_be_measured_are_left_out(case):
    kw = {}
    if case == "depth_missed":
        kw = {"spot_disp": 0.2}  # the depth pass shows only the background behind it
    elif case == "bright_background":
        kw = {"background": 0.7}
    elif case == "neighbour":
        kw = {"spots": ((40, 40), (50, 56))}
    elif case == "in_focus":
        kw = {"spot_disp": 0.95}  # 1.5 px radius: too small to show a shape
    elif case == "at_border":
        kw = {"spots": ((3, 48),)}
    aif, disp = _frame(**kw)
    if case == "occluded":
        disp[40:44, 40:60] = 0.9  # nearer than the highlight, inside its disc
    assert find_highlights(aif, disp, K, DISP_FOCUS, rasterize(parse_shape("star"))) == []


def test_a_neighbours_disc_reaching_into_the_window_is_not_part_of_the_footprint():
    # two spots far enough apart to be scored, but the window (disc + margin + spot) of each
    # reaches the corner of the other's disc: only the component over the prediction counts
    aif, disp = _frame(spots=((30, 30), (53, 53)))  # 32.5 px apart, discs of 15 px
    kernel = rasterize(parse_shape("heart"))
    truth = optics.render_bokeh(aif, disp, K, DISP_FOCUS, kernel=kernel)
    highlights = find_highlights(aif, disp, K, DISP_FOCUS, kernel)
    assert len(highlights) == 2
    hl = highlights[0]
    lum = truth.max(-1)[hl.window]
    raw = lum > 0.05 + 0.5 * (np.percentile(lum[hl.prediction], 95) - 0.05)
    fp = footprint(truth, hl)
    assert raw.sum() > fp.sum()  # the neighbour's disc is in the window ...
    assert not (fp & ~ndimage.binary_dilation(hl.prediction, iterations=2)).any()  # ... not in fp
    s, _ = _scores(aif, disp, kernel, cycles=truth)
    assert s["cycles"][0] > 0.95  # 0.80 when the neighbour's corner counted


def test_a_footprint_larger_than_the_shape_counts_its_excess_against_it():
    aif, disp = _frame()
    kernel = rasterize(parse_shape("triangle"))
    (hl,) = find_highlights(aif, disp, K, DISP_FOCUS, kernel)
    support = hl.intensity > 1e-6 * hl.intensity.max()
    assert (level_set(hl, 2 * int(support.sum())) == support).all()  # not the FFT's round-off
    assert (level_set(hl, int(support.sum()) // 2) <= support).all()
