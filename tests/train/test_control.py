"""The controllability family (train.evaluate.control) on hand-made sweeps: a perfect renderer
(background blurred by a Gaussian growing with K, the in-focus half left sharp), a flat one (the
same frame at every K), a reversed one (sharpest at the largest K) and a weak one (the perfect
renderer's blur at a tenth of the strength)."""

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from train.evaluate import control

K = [0.0, 10.0, 20.0, 40.0, 80.0]
H, W = 48, 64


def scene():
    """A frame in three vertical bands and its disparity: textured and in focus (disp 0.5, the
    focus), flat grey and in focus, and a textured background at disp 0.3 (blur radius 0.2 · K
    px). The grey band keeps the in-focus texture and the blurred background apart, so the
    whole frame's LV changes only with the background's blur."""
    rng = np.random.default_rng(0)
    aif = rng.random((H, W, 3))
    aif[:, W // 3 : 2 * W // 3] = 0.5
    disp = np.full((H, W), 0.5)
    disp[:, 2 * W // 3 :] = 0.3
    return aif, disp


def render(aif, disp, k, strength=1.0):
    """Blur the background alone by σ = strength · 0.05 · K px; keep the in-focus bands."""
    out = aif.copy()
    sigma = strength * 0.05 * k
    if sigma > 0:
        back = aif[:, 2 * W // 3 :]
        out[:, 2 * W // 3 :] = gaussian_filter(back, sigma=(sigma, sigma, 0), mode="reflect")
    return out


def sweep(renderer, ks=K):
    aif, disp = scene()
    frames = [renderer(aif, disp, k) for k in ks]
    return control.sweep_lv(frames, disp, 0.5, ks)


def perfect(aif, disp, k):
    return render(aif, disp, k)


def flat(aif, disp, k):
    return aif


def reversed_(aif, disp, k):
    return render(aif, disp, K[-1] - k)


def binary(aif, disp, k):
    return render(aif, disp, K[2] if k > 0 else 0.0)


def weak(aif, disp, k):
    return render(aif, disp, k, strength=0.3)


def test_regions_follow_the_blur_radius_at_the_largest_k_away_from_depth_edges():
    """Background: radius 0.2 · 80 = 16 px, minus the pixels whose blur reaches the depth edge
    (columns back - 1 | back, within 16 + 1 px); in focus: radius 0, minus 1 px by the edge."""
    _, disp = scene()
    masks = control.regions(disp, 0.5, 80.0)
    back = 2 * W // 3
    reach = 16 + control.EDGE_MARGIN_PX
    cols = np.arange(W)
    want_bg = (cols >= back) & (cols - back > reach)
    want_focus = (cols < back) & (back - 1 - cols > control.EDGE_MARGIN_PX)
    assert (masks["background"] == want_bg[None, :]).all()
    assert (masks["in_focus"] == want_focus[None, :]).all()
    assert masks["whole"].all()


def test_the_edge_reach_grows_with_each_pixels_blur():
    """A far plane (disp 0.1) beside the focus plane: at K = 20 its pixels blur by 8 px and
    reach 9 px from the edge; at K = 5, 2 + 1 = 3 px. No edge, no reach."""
    disp = np.full((8, 40), 0.5)
    disp[:, 20:] = 0.1
    for k, reach in ((20.0, 9), (5.0, 3)):
        r = control.edge_reach(disp, 0.5, k)[0]
        assert r[20 : 20 + reach + 1].all() and not r[20 + reach + 1 :].any(), k
    assert not control.edge_reach(np.full((8, 40), 0.1), 0.5, 20.0).any()


def test_a_perfect_renderer_scores_one_on_the_rank_and_truth_forms():
    lv = sweep(perfect)
    s = control.score_sweep(K, lv, None)
    assert s.spearman_whole == pytest.approx(1.0)
    assert s.spearman_background == pytest.approx(1.0)
    assert s.truth_correlation == pytest.approx(1.0)
    assert s.focus_kept == pytest.approx(1.0)  # the in-focus half is never touched
    assert s.dynamic_range > 20  # the background's LV falls by more than 20x
    # the paper's form is grid-dependent: LV decays convexly, so a perfect renderer is below 1
    assert 0.3 < s.pearson < 0.95


def test_a_flat_renderer_scores_zero_not_nan():
    lv, truth = sweep(flat), sweep(perfect)
    s = control.score_sweep(K, lv, truth)
    assert s.spearman_whole == 0.0 and s.spearman_background == 0.0
    assert s.truth_correlation == 0.0 and s.pearson == 0.0
    assert s.dynamic_range == pytest.approx(1.0)


def test_a_reversed_renderer_scores_minus_one():
    lv, truth = sweep(reversed_), sweep(perfect)
    s = control.score_sweep(K, lv, truth)
    assert s.spearman_whole == pytest.approx(-1.0)
    assert s.spearman_background == pytest.approx(-1.0)
    assert s.truth_correlation < -0.5
    assert s.dynamic_range < 1.0


def test_a_renderer_that_blurs_by_one_amount_at_every_k_is_not_controllable():
    """The same blur for every K > 0: one change of sharpness, then none; the LV changes do
    not follow the truth's."""
    lv, truth = sweep(binary), sweep(perfect)
    s = control.score_sweep(K, lv, truth)
    assert s.truth_correlation < 0.5
    assert s.spearman_background < 0.8


def test_a_weak_renderer_is_told_apart_by_its_dynamic_range_only():
    """The failure the paper's number hides: a model whose background barely changes keeps a
    perfect rank correlation; its dynamic range against the truth's shows it."""
    truth, lv = sweep(perfect), sweep(weak)
    per_scene = {
        "cycles": [control.score_sweep(K, truth, None)],
        "weak": [control.score_sweep(K, lv, truth)],
    }
    table = control.summarise(per_scene, truth="cycles")
    assert table["weak"]["spearman_whole"] == pytest.approx(1.0)
    assert table["weak"]["truth_correlation"] > 0.7  # its changes follow the truth's, smaller
    assert table["cycles"]["dynamic_range_ratio"] == pytest.approx(1.0)
    assert table["weak"]["dynamic_range_ratio"] < 0.3
    assert table["weak"]["scenes"] == 1


def test_unscored_regions_are_nan_and_left_out_of_the_means():
    aif, _ = scene()
    disp = np.full((H, W), 0.5)  # everything in focus: no background
    frames = [aif for _ in K]
    lv = control.sweep_lv(frames, disp, 0.5, K)
    assert np.isnan(lv["background"]).all()
    s = control.score_sweep(K, lv, None)
    assert math.isnan(s.spearman_background) and math.isnan(s.dynamic_range)
    table = control.summarise(
        {"cycles": [s, control.score_sweep(K, sweep(perfect), None)]}, "cycles"
    )
    assert table["cycles"]["spearman_background"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "ks",
    [[0.0, 10.0, 20.0], [0.0, 20.0, 10.0, 40.0], [0.0, 10.0, float("nan"), 40.0], [0.0, 0.0, 1, 2]],
)
def test_a_bad_k_grid_is_refused(ks):
    with pytest.raises(ValueError, match="strictly increasing"):
        control.pearson_form(ks, np.ones(len(ks)))


def test_frames_in_either_layout_give_the_same_lv():
    aif, disp = scene()
    mask = control.regions(disp, 0.5, 80.0)["background"]
    hwc = control.region_lv(aif, mask)
    chw = control.region_lv(np.transpose(aif, (2, 0, 1)), mask)
    assert hwc == pytest.approx(chw)


def test_the_highlight_zone_covers_each_clipped_highlights_disc_at_the_largest_k():
    """An 8-bit AIF holds no emitter radiance: the regions leave out where a clipped
    highlight's disc reaches, each by its own blur radius."""
    aif = np.full((64, 64, 3), 0.4)
    aif[10, 10] = aif[50, 40] = 1.0  # two clipped highlights
    disp = np.full((64, 64), 0.2)
    disp[50, 40] = 0.7  # the second one nearer: 0.5 1/m from the focus plane
    zone = control.highlight_zone(aif, disp, disp_focus=0.2, k_max=10.0)
    assert not zone[10, 13] and zone[10, 12]  # in focus: radius 0 + the 2 px margin
    assert zone[50, 47] and not zone[50, 48]  # radius 5 + 2
    masks = control.regions(disp, 0.2, 10.0, aif)
    assert not (masks["in_focus"] & zone).any() and masks["whole"].all()
    assert not control.highlight_zone(np.full((8, 8, 3), 0.9), np.ones((8, 8)), 1.0, 5.0).any()


def test_the_background_forms_score_the_truths_frames_above_its_floor():
    """A truth whose background LV falls and then sits on an 8-bit floor (a blurrier frame
    ranked by noise there): the background forms score the frames above the floor's plateau,
    at least MIN_FRAMES; a truth that never reaches a floor keeps every frame."""
    k = [0.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0]
    floored = np.array([1e-2, 1e-3, 1e-4, 4e-5, 1.1e-5, 1.0e-5, 1.3e-5])
    assert control.measurable(floored) == 4  # 1e-2 .. 4e-5, above the plateau under 2e-5
    assert control.spearman_form(k, floored) < 0.9  # over every frame the floor's noise counts
    lv = {"whole": floored, "background": floored, "in_focus": np.ones(7)}
    s = control.score_sweep(k, lv, None)
    assert s.spearman_background == pytest.approx(1.0)
    assert s.dynamic_range == pytest.approx(1e-2 / 4e-5)  # not the first floor frame's 1.1e-5
    # a method that rises where the truth falls is still caught on those frames
    rising = {**lv, "background": floored[::-1].copy()}
    assert control.score_sweep(k, rising, lv).truth_correlation < 0
    early = np.array([1e-2, 1e-3, 1.5e-5, 1.1e-5, 1.0e-5, 1.3e-5, 1.05e-5])
    assert control.measurable(early) == 4  # at least MIN_FRAMES, floor frames or not
    steady = np.geomspace(1e-2, 1e-4, 7)  # never on a floor: only its last frame near its minimum
    assert control.measurable(steady) == 7
    assert control.measurable(np.array([1e-2, np.nan, 1e-3, 1e-4])) == 4
