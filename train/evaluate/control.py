"""Controllability as a family of measures over K sweeps at one focus plane (docs/benchmark.md).

A *sweep* is the frames a method renders of one scene at one focus disparity ``disp_focus`` for
increasing blur strengths ``K_0 < K_1 < … < K_n`` (at least :data:`MIN_FRAMES`). Each frame is
summarised by its Laplacian variance (LV: the variance of the 3×3 Laplacian of the channel-mean
luminance) over three regions of the scene, fixed by its disparity ``d`` and the largest K
(the blur radius is ``K · |d − disp_focus|`` px, docs/architecture.md section 3):

* ``whole``: every pixel (the paper's reading);
* ``background``: pixels blurred by at least :data:`BACKGROUND_PX` at ``K_n``;
* ``in_focus``: pixels blurred by at most :data:`IN_FOCUS_PX` at ``K_n`` (sharp in every frame);

both without the pixels whose blur at ``K_n`` reaches a depth edge (:func:`edge_reach`: partial
occlusion is the edge band's matter) and, given the scene's AIF and emitters, its highlights.

A region's LV uses only pixels whose 3×3 neighbourhood lies inside it (region edges are depth
edges, where the Laplacian sees both sides). From the LV sequences (:func:`sweep_lv`):

* :func:`pearson_form` ``−pearson(K, LV_whole)``: the paper's LVCorr, grid-dependent (LV decays
  convexly with blur, so a perfect renderer scores about 0.6 on {0, 10, 20, 40, 80});
* :func:`spearman_form` ``−spearman(K, LV)`` on ``whole`` and on ``background``: 1 for any
  renderer whose sharpness falls at every step, −1 for one that sharpens;
* :func:`truth_correlation` ``cos(Δ log LV_method, Δ log LV_truth)`` on the background, with
  ``Δ log LV_i = log(LV_{i+1} / LV_i)`` on the same K values as Cycles' sweep of the scene: the
  frame-to-frame changes of a method's sweep against the truth's (Generative Photography's idea,
  correlating LV *changes*, with three departures the hand-made sweeps of the tests force: the
  Pearson of raw differences centres them, so a reversed renderer, whose changes are the
  truth's negated in reverse order, scores +0.48; raw differences, and the whole frame, whose
  LV has the in-focus region's as a floor, are dominated by the first step, so a renderer that
  blurs by one fixed amount at every K > 0 scores 0.9; the uncentred correlation (cosine) of
  the background's log-LV changes scores them −0.79 and 0.19);
* :func:`dynamic_range` ``LV_background(K_0) / LV_background(K_n)``, reported as a ratio to
  Cycles' (1 = the truth's range, 0.11 = a model whose background changes by 11 %);
* :func:`focus_kept` ``LV_in_focus(K_n) / LV_in_focus(K_0)``: the in-focus region's sharpness
  kept while the background's falls (1 = kept).

A constant sequence has no correlation: both correlation forms give 0 there (never NaN), so a
method that ignores K scores 0, not a missing value. numpy (and scipy.ndimage's distance
transform), on frames as [H, W, 3] or [3, H, W] arrays in any range (LV ratios do not depend on
it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from train.evaluate.edges import depth_edges
from train.evaluate.metrics import finite_mean, ranks

MIN_FRAMES = 4  # K values per sweep: three frame-to-frame changes at least
FLOOR_MARGIN = 2.0  # a truth LV this many times its smallest is above the 8-bit floor
BACKGROUND_PX = 4.0  # blur radius at the largest K from which a pixel is background
IN_FOCUS_PX = 0.5  # blur radius at the largest K up to which a pixel is in focus
CLIPPED = 250 / 255  # an AIF pixel this bright (channel mean, [0, 1]) is a clipped highlight
# an AIF pixel at least SPOT_LEVEL bright and SPOT_CONTRAST above its 5 x 5 median is a small
# emitter too (unclipped: dimmer or coloured), whose disc is crisp in the truth
SPOT_LEVEL, SPOT_CONTRAST = 0.35, 0.15
ZONE_MARGIN_PX = 2  # around a clipped highlight's disc
EDGE_MARGIN_PX = 1.0  # beyond a pixel's blur radius, the reach of a depth edge (edge_reach)
MIN_REGION_PX = 64  # a region with fewer interior pixels is not scored (NaN, left out)
REGIONS = ("whole", "background", "in_focus")


def _grey(frame) -> np.ndarray:
    """The channel mean of an [H, W, 3] or [3, H, W] frame (float64)."""
    a = np.asarray(frame, dtype=np.float64)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"a frame is [H, W, 3] or [3, H, W], got shape {a.shape}")
    return a.mean(axis=0) if a.shape[0] == 3 and a.shape[-1] != 3 else a.mean(axis=-1)


def _laplacian(grey: np.ndarray) -> np.ndarray:
    """The 3×3 Laplacian at the interior pixels, [H − 2, W − 2]."""
    g = grey
    return g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]


def _interior(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` whose 3×3 neighbourhood lies in it, at the Laplacian's positions."""
    m = np.asarray(mask, dtype=bool)
    out = np.ones((m.shape[0] - 2, m.shape[1] - 2), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            out &= m[dy : dy + m.shape[0] - 2, dx : dx + m.shape[1] - 2]
    return out


def highlight_zone(aif, disparity, disp_focus: float, k_max: float) -> np.ndarray:
    """H×W bool: where the bokeh of the AIF's highlights can reach at ``k_max``. Each pixel of
    the AIF at or above :data:`CLIPPED` (channel-mean, [0, 1]) is an emitter whose radiance the
    8-bit image does not hold, and each small bright spot (at least :data:`SPOT_LEVEL` and
    :data:`SPOT_CONTRAST` above its 5 × 5 median) an emitter too, dimmer, whose disc is crisp in
    the truth (v2 computes the discs exactly); its disc covers the pixels within its blur radius
    ``k_max · |d − disp_focus|`` plus :data:`ZONE_MARGIN_PX`."""
    from scipy.ndimage import distance_transform_edt, median_filter

    grey = _grey(aif)
    spots = (grey >= SPOT_LEVEL) & (grey - median_filter(grey, size=5) >= SPOT_CONTRAST)
    clipped = (grey >= CLIPPED) | spots
    zone = np.zeros(grey.shape, dtype=bool)
    if not clipped.any():
        return zone
    d = np.asarray(disparity, dtype=np.float64)
    radius = np.ceil(float(k_max) * np.abs(d - float(disp_focus))).astype(int)
    for r in np.unique(radius[clipped]):
        dist = distance_transform_edt(~(clipped & (radius == r)))
        zone |= dist <= r + ZONE_MARGIN_PX
    return zone


def emitter_zone(shape, emitters, disp_focus: float, k_max: float) -> np.ndarray:
    """H×W bool: the discs of known emitters (``(N, 4)``: col, row, disparity, radius px, as
    :func:`train.evaluate.emitters.emitters_from_spec`) at ``k_max``, each its blur radius
    ``k_max · |d − disp_focus|`` plus its own radius plus :data:`ZONE_MARGIN_PX`."""
    h, w = shape
    zone = np.zeros((h, w), dtype=bool)
    for col, row, disp, r_px in np.asarray(emitters, np.float64).reshape(-1, 4):
        reach = float(k_max) * abs(disp - float(disp_focus)) + r_px + ZONE_MARGIN_PX
        r0, r1 = max(0, int(row - reach)), min(h, int(np.ceil(row + reach)) + 1)
        c0, c1 = max(0, int(col - reach)), min(w, int(np.ceil(col + reach)) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        zone[r0:r1, c0:c1] |= np.hypot(xx + 0.5 - col, yy + 0.5 - row) <= reach
    return zone


def edge_reach(disparity, disp_focus: float, k_max: float) -> np.ndarray:
    """Pixels whose blur at ``k_max`` reaches a depth edge: within their own blur radius plus
    :data:`EDGE_MARGIN_PX` of one (``edges.depth_edges`` at ``k_max``). There a lens sees
    round the nearer side (partial occlusion) and a renderer from one AIF cannot: that is the
    edge band's matter (bokeh section), not controllability's."""
    d = np.asarray(disparity, dtype=np.float64)
    radius_px = float(k_max) * np.abs(d - float(disp_focus))
    signed = np.where(d > disp_focus, -radius_px, radius_px)
    edges = depth_edges(signed)
    if not edges.any():
        return edges
    return distance_transform_edt(~edges) <= radius_px + EDGE_MARGIN_PX


def regions(
    disparity, disp_focus: float, k_max: float, aif=None, emitters=None
) -> dict[str, np.ndarray]:
    """The scene's ``whole``, ``background`` and ``in_focus`` masks (H×W bool) for a sweep at
    ``disp_focus`` whose largest K is ``k_max``. The background and in-focus regions leave out
    the edge reach (:func:`edge_reach`); with the scene's ``aif`` ([0, 1]), the highlight zone
    (:func:`highlight_zone`), and with its ``emitters`` (a synthetic scene's list) every
    emitter's disc (:func:`emitter_zone`)."""
    d = np.asarray(disparity, dtype=np.float64)
    radius_px = float(k_max) * np.abs(d - float(disp_focus))
    keep = ~edge_reach(d, disp_focus, k_max)
    if aif is not None:
        keep &= ~highlight_zone(aif, d, disp_focus, k_max)
    if emitters is not None:
        keep &= ~emitter_zone(d.shape, emitters, disp_focus, k_max)
    return {
        "whole": np.ones(d.shape, dtype=bool),
        "background": (radius_px >= BACKGROUND_PX) & keep,
        "in_focus": (radius_px <= IN_FOCUS_PX) & keep,
    }


def region_lv(frame, mask: np.ndarray) -> float:
    """The Laplacian variance of ``frame`` over the interior of ``mask`` (NaN when it has fewer
    than :data:`MIN_REGION_PX` interior pixels)."""
    lap = _laplacian(_grey(frame))
    inside = _interior(mask)
    if inside.shape != lap.shape:
        raise ValueError(f"mask {np.shape(mask)} does not fit the frame ({lap.shape} + 2)")
    if int(inside.sum()) < MIN_REGION_PX:
        return float("nan")
    return float(lap[inside].var())


def sweep_lv(
    frames, disparity, disp_focus: float, k_values, aif=None, emitters=None
) -> dict[str, np.ndarray]:
    """LV of every frame of a sweep in each of :data:`REGIONS`: ``{region: [n + 1] array}``;
    ``aif``: the scene's all-in-focus image in [0, 1], whose highlight zone the regions leave
    out, and ``emitters`` its known emitters, whose discs they leave out too (:func:`regions`)."""
    k = _check_k(k_values)
    if len(frames) != k.size:
        raise ValueError(f"{len(frames)} frames for {k.size} K values")
    masks = regions(disparity, disp_focus, float(k.max()), aif, emitters)
    return {name: np.array([region_lv(f, masks[name]) for f in frames]) for name in REGIONS}


def _check_k(k_values) -> np.ndarray:
    k = np.asarray(k_values, dtype=np.float64).ravel()
    if k.size < MIN_FRAMES or not np.all(np.isfinite(k)) or np.any(np.diff(k) <= 0):
        raise ValueError(
            f"a sweep needs at least {MIN_FRAMES} finite, strictly increasing K values, "
            f"got {k.tolist()}"
        )
    return k


def _corr(a, b) -> float:
    """Pearson correlation; 0 when either side is constant (no correlation, not NaN); NaN only
    when a value is NaN (an unscored region)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / den) if den > 1e-300 else 0.0


def pearson_form(k_values, lv) -> float:
    """The paper's LVCorr ``−pearson(K, LV)`` (whole frame): grid-dependent."""
    return -_corr(_check_k(k_values), lv)


def spearman_form(k_values, lv) -> float:
    """``−spearman(K, LV)``: 1 when LV falls at every step of K, −1 when it rises at every step,
    0 when it does not change."""
    k = _check_k(k_values)
    lv = np.asarray(lv, dtype=np.float64)
    if not np.all(np.isfinite(lv)):
        return float("nan")
    return -_corr(ranks(k), ranks(lv))


def truth_correlation(lv_method, lv_truth) -> float:
    """``cos(Δ log LV_method, Δ log LV_truth)``: the frame-to-frame changes of LV of a method's
    sweep against Cycles' sweep of the same scene at the same K values (1 = the same relative
    changes at every step, 0 = none, −1 = the opposite; NaN when an LV is NaN or not > 0)."""
    a, b = np.asarray(lv_method, dtype=np.float64), np.asarray(lv_truth, dtype=np.float64)
    if a.shape != b.shape or a.size < MIN_FRAMES:
        raise ValueError(
            f"two sweeps of the same K values (>= {MIN_FRAMES}), got {a.size}, {b.size}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.min() > 0 and b.min() > 0):
        return float("nan")
    da, db = np.diff(np.log(a)), np.diff(np.log(b))
    den = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    return float((da * db).sum() / den) if den > 1e-300 else 0.0


def dynamic_range(lv_background) -> float:
    """``LV(K_0) / LV(K_n)`` of the background: how much sharper the background is at the
    smallest K than at the largest (1 = not at all; NaN when unscored or LV(K_n) is 0)."""
    lv = np.asarray(lv_background, dtype=np.float64)
    first, last = float(lv[0]), float(lv[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or last <= 0:
        return float("nan")
    return first / last


def focus_kept(lv_in_focus) -> float:
    """``LV(K_n) / LV(K_0)`` of the in-focus region (1 = its sharpness kept at the largest K)."""
    lv = np.asarray(lv_in_focus, dtype=np.float64)
    first, last = float(lv[0]), float(lv[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0:
        return float("nan")
    return last / first


@dataclass(frozen=True)
class SweepScores:
    """One method's controllability on one scene's sweep (see the module docstring)."""

    pearson: float
    spearman_whole: float
    spearman_background: float
    truth_correlation: float
    dynamic_range: float
    focus_kept: float


def measurable(lv_truth_background) -> int:
    """How many leading frames of a sweep the background forms score: those whose truth LV
    stands above the 8-bit floor it settles on at large K. The floor is a plateau: two or more
    frames within :data:`FLOOR_MARGIN` times the smallest LV; the frames before its first are
    scored (a frame at the floor is at least half floor, quantisation and denoiser residue, not
    blur), at least :data:`MIN_FRAMES`. A truth without a plateau (still falling at its last
    frame) and an unscored one keep every frame. Past the floor a blurrier frame's LV is noise,
    ranked by chance: the truth's own ranks there are no truth."""
    lv = np.asarray(lv_truth_background, dtype=np.float64)
    if not (np.all(np.isfinite(lv)) and lv.min() > 0):
        return lv.size
    at_floor = np.flatnonzero(lv < FLOOR_MARGIN * lv.min())
    n = int(at_floor.min()) if at_floor.size >= 2 else lv.size
    return min(lv.size, max(MIN_FRAMES, n))


def score_sweep(k_values, lv: dict[str, np.ndarray], lv_truth: dict[str, np.ndarray] | None):
    """Every measure of one method's sweep (``lv`` from :func:`sweep_lv`); ``lv_truth``: Cycles'
    sweep of the scene at the same K values (None: the truth's own row, correlation 1). The
    background forms score the truth's measurable frames (:func:`measurable`)."""
    truth = lv if lv_truth is None else lv_truth
    n = measurable(truth["background"])
    k, bg = np.asarray(k_values, dtype=np.float64)[:n], np.asarray(lv["background"])[:n]
    return SweepScores(
        pearson=pearson_form(k_values, lv["whole"]),
        spearman_whole=spearman_form(k_values, lv["whole"]),
        spearman_background=spearman_form(k, bg),
        truth_correlation=truth_correlation(bg, np.asarray(truth["background"])[:n]),
        dynamic_range=dynamic_range(bg),
        focus_kept=focus_kept(lv["in_focus"]),
    )


def summarise(per_scene: dict[str, list[SweepScores]], truth: str) -> dict[str, dict]:
    """Per method, the mean of each measure over the scored scenes (NaNs left out) and the
    dynamic range as a ratio to ``truth``'s, scene by scene (geometric mean over scenes)."""
    out = {}
    truth_dr = [s.dynamic_range for s in per_scene[truth]]
    for method, scores in per_scene.items():
        row = {}
        for field in SweepScores.__dataclass_fields__:
            vals = [getattr(s, field) for s in scores]
            row[field] = finite_mean(vals)
        ratios = [
            s.dynamic_range / t
            for s, t in zip(scores, truth_dr, strict=True)
            if math.isfinite(s.dynamic_range) and math.isfinite(t) and t > 0
        ]
        row["dynamic_range_ratio"] = (
            float(np.exp(np.mean(np.log(ratios)))) if ratios and min(ratios) > 0 else float("nan")
        )
        row["scenes"] = sum(math.isfinite(s.spearman_whole) for s in scores)
        out[method] = row
    return out
