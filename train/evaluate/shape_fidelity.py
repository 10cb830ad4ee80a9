"""Shape fidelity: do isolated highlights in an output show the requested aperture shape?

A bokeh shape is only visible where a small bright source is defocused alone on a darker
background. For one depth-of-field render (the AIF in [0, 1], its disparity, K, the focus
disparity and the aperture kernel, :mod:`optics.aperture` conventions):

1. **Highlights**: connected spots of the AIF whose brightest channel is ≥ ``SPOT_LEVEL``, at
   most ``MAX_SPOT_FRACTION`` of the frame width across. A spot is kept when the depth pass saw
   it (its nearest pixel is nearer than the window's background by ``NEARER_FRACTION``: a
   highlight under a pixel across can fall between the depth pass's one sample per pixel, and
   then its depth is unknown); its CoC radius ``r = K · (disp − disp_focus)`` (signed,
   :func:`optics.signed_coc_radius_px`, at that pixel) is at least ``MIN_RADIUS_PX``; its
   window (the predicted disc plus ``MARGIN_PX``) lies inside the frame; no other spot's disc
   touches its own; nothing nearer than the highlight (disparity above its own by
   ``NEARER_FRACTION``) lies inside its predicted disc (which would occlude it); and the AIF
   around the disc is darker than ``BACKGROUND_MAX``.
2. **Prediction**: ``P`` = the spot's own AIF brightness convolved with the kernel resampled to
   the CoC (``optics.bokeh.aperture_kernel``: turned by 180° in front of the focus plane): what
   a thin lens with that aperture shows, up to the source's unknown brightness.
3. **Footprint of an image** (the Cycles render, a model's output, the reference renderer's):
   in the window, the brightest channel thresholded halfway between the background (median of
   the window outside the dilated predicted disc) and the peak (95th percentile inside it), kept
   only where connected to the predicted disc (the window is square and reaches past the disc:
   a neighbour's disc in its corner is not this highlight's footprint).
4. **Scores**: ``iou_kernel`` = IoU of the footprint with the level set of ``P`` of the same area.
   Highlights are brighter than white, so 8-bit discs are clipped and their half-peak footprint
   is a low level set of the true intensity: for a point source that is still the kernel's
   shape (a point through an aperture is the aperture, at every level), slightly grown by the
   source's size and the pixel filter; matching the area compares shapes whatever the clipping.
   A footprint larger than ``P``'s support is scored against the whole support (its excess
   counts against it: a disc drawn for a triangle is the wrong shape *and* too large).
   ``iou_cycles`` = IoU of the footprint with the Cycles render's footprint.

numpy + scipy.ndimage on whole frames; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from optics.aperture import iou
from optics.bokeh import aperture_kernel, signed_coc_radius_px

SPOT_LEVEL = 0.9
MAX_SPOT_FRACTION = 0.05
MIN_RADIUS_PX = 4.0
MARGIN_PX = 3
NEARER_FRACTION = 0.02
BACKGROUND_MAX = 0.5
SUPPORT_LEVEL = 1e-6  # of the prediction's peak: below it, FFT round-off


@dataclass
class Highlight:
    window: tuple[slice, slice]  # the rows and columns of its window in the frame
    radius_px: float  # signed CoC radius (negative in front of the focus plane)
    intensity: np.ndarray  # P: the predicted disc's intensity in the window (float)
    prediction: np.ndarray  # bool, P at half its peak
    ring: np.ndarray  # bool, the window's background (outside the dilated prediction)


def _brightest(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    return a.max(-1) if a.ndim == 3 else a


def find_highlights(aif, disparity, k: float, disp_focus: float, kernel) -> list[Highlight]:
    """The isolated, unoccluded highlights of one render whose disc can show the shape."""
    lum = _brightest(aif)
    h, w = lum.shape
    disp = np.asarray(disparity, dtype=np.float64)
    radius = signed_coc_radius_px(disp, disp_focus, k)
    labels, n = ndimage.label(lum >= SPOT_LEVEL)
    if n == 0:
        return []
    objects = ndimage.find_objects(labels)
    max_side = max(2, int(MAX_SPOT_FRACTION * w))
    spots = []
    for i, sl in enumerate(objects, start=1):
        if sl[0].stop - sl[0].start > max_side or sl[1].stop - sl[1].start > max_side:
            continue
        mask = labels == i
        cy, cx = (float(np.mean(ix)) for ix in np.nonzero(mask))
        nearest = np.unravel_index(np.argmax(np.where(mask, disp, -np.inf)), disp.shape)
        spots.append((i, sl, cy, cx, float(radius[nearest]), float(disp[nearest])))
    kept = []
    for i, sl, cy, cx, r, d in spots:
        if abs(r) < MIN_RADIUS_PX:
            continue
        half = (
            int(np.ceil(abs(r)))
            + MARGIN_PX
            + max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
        )
        y0, y1, x0, x1 = int(cy) - half, int(cy) + half + 1, int(cx) - half, int(cx) + half + 1
        if y0 < 0 or x0 < 0 or y1 > h or x1 > w:
            continue
        if any(
            j != i and np.hypot(cy - cy2, cx - cx2) < abs(r) + abs(r2) + 2
            for j, _, cy2, cx2, r2, _ in spots
        ):
            continue
        win = (slice(y0, y1), slice(x0, x1))
        spot = (labels[win] == i) * lum[win]
        pred = fftconvolve(spot, aperture_kernel(r, kernel), mode="same")
        prediction = pred >= 0.5 * pred.max()
        if (disp[win][prediction & (labels[win] != i)] > d * (1 + NEARER_FRACTION)).any():
            continue  # something nearer would hide part of the disc
        ring = ~ndimage.binary_dilation(prediction, iterations=MARGIN_PX)
        if not ring.any() or d <= np.median(disp[win][ring]) * (1 + NEARER_FRACTION):
            continue  # the depth pass missed the (sub-pixel) highlight: its depth is unknown
        if np.median(lum[win][ring]) > BACKGROUND_MAX:
            continue
        kept.append(Highlight(win, r, pred, prediction, ring))
    return kept


def footprint(img, hl: Highlight) -> np.ndarray:
    """The footprint of ``img`` (H×W or H×W×C in [0, 1]) in the highlight's window: the
    connected regions above the half-way level that overlap the predicted disc (a neighbour's
    disc reaching into the window's corner is not this highlight's)."""
    lum = _brightest(img)[hl.window]
    background = float(np.median(lum[hl.ring]))
    peak = float(np.percentile(lum[hl.prediction], 95))
    if peak <= background:
        return np.zeros_like(hl.prediction)
    above = lum >= background + 0.5 * (peak - background)
    labels, _ = ndimage.label(above)
    own = np.unique(labels[above & hl.prediction])
    return np.isin(labels, own[own > 0])


def level_set(hl: Highlight, area_px: int) -> np.ndarray:
    """The ``area_px`` pixels of the window where the predicted intensity is highest, at most
    the prediction's whole support: a footprint larger than what the kernel at the predicted
    CoC can cover (a disc drawn for a triangle, a halo) is scored against the whole shape, so
    its excess counts against it (not matched by the FFT's round-off around ``P``)."""
    p = hl.intensity
    area_px = min(int(area_px), int((p > SUPPORT_LEVEL * p.max()).sum()))
    out = np.zeros(p.size, dtype=bool)
    if area_px > 0:
        out[np.argsort(-p.ravel(), kind="stable")[:area_px]] = True
    return out.reshape(p.shape)


def score_render(aif, disparity, k, disp_focus, kernel, images: dict, truth: str = "cycles"):
    """Per image name, the lists ``iou_kernel`` and ``iou_cycles`` over this render's isolated
    highlights (``images[truth]`` is the Cycles render); ``{}`` entries when there are none."""
    highlights = find_highlights(aif, disparity, k, disp_focus, kernel)
    scores = {name: {"iou_kernel": [], "iou_cycles": []} for name in images}
    for hl in highlights:
        truth_fp = footprint(images[truth], hl)
        for name, img in images.items():
            fp = footprint(img, hl)
            scores[name]["iou_kernel"].append(iou(fp, level_set(hl, int(fp.sum()))))
            scores[name]["iou_cycles"].append(iou(fp, truth_fp))
    return scores, highlights
