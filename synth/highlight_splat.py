"""Exact bokeh discs of highlight emitters, computed instead of path traced (numpy only).

A camera ray through a thin lens sees a small emitter only when its lens sample does, so a
path-traced disc of a point-like emitter stays speckled at any affordable sample count
(docs/benchmark.md, "Truth convergence"). The disc is known exactly instead: camera at the origin
looking down −Z, pixel pitch ``p = sensor_width / width_px`` (horizontal sensor fit), lens of
radius ``R = f / (2N)`` with opening mask ``M(u)`` (the aperture kernel, lens coordinates x right,
y up, spanning ``[−R, R]²``), focus plane at planar distance ``S``. The ray from lens point ``u``
through the focus-plane point of image point ``X`` (px from the frame centre, y up) crosses the
emitter's depth ``z`` at ``u (1 − z/S) + (z p / f) X``; it meets the emitter (a disc of radius
``ρ`` around ``c``, pinhole image ``x_c``, pinhole radius ``r_e = ρ f / (z p)`` px) when
``|u − k (x_c − X)| ≤ ρ / |1 − z/S|`` with ``k = z p / (f (1 − z/S))`` (m of lens per px). With
``D(Y) = M(u) V(u)`` at ``u = k (x_c − Y)`` (the disc's footprint, radius
``R f |1/z − 1/S| / p`` px, the kernel as it is behind the focus plane and turned by 180° before
it; ``V`` the emitter's visibility from each lens point) the pixel's radiance is::

    E(X) = L · (D ⊛ 1[|·| ≤ r_e])(X) / ∫ M(u(Y)) dY

(``L``: the emitter's radiance; Cycles samples the lens uniformly over the open aperture, and a
shaped render's film exposure undoes the occluder's light loss, so both normalise by the open
area). Summed over the frame that is ``L π r_e²`` times the visible fraction: the in-focus
energy. Evaluated on a grid of ``ss × ss`` sub-pixels aligned with the pixels and averaged per
pixel (Cycles' box pixel filter of width 1 px). :mod:`synth.blender.splat` supplies ``V`` from ray
casts and adds the layer to the Cycles render of everything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation, map_coordinates
from scipy.signal import fftconvolve

# a UV sphere of 12 x 6 segments (synth.blender.build's emitter mesh) has about the silhouette
# area of the regular 12-gon inscribed in its circle, 3 r² instead of π r²
EMITTER_AREA_FACTOR = 3.0 / math.pi
MAX_SUBSAMPLES = 16  # sub-pixels per pixel along each axis
MAX_FOOTPRINT_PX = 4096  # a footprint larger than this (per axis) is clipped to the frame anyway


@dataclass(frozen=True)
class LensView:
    """One DoF render's camera: focal length and sensor width in m, the frame in px, the lens."""

    focal_length_m: float
    sensor_width_m: float
    width_px: int
    height_px: int
    f_number: float
    focus_distance_m: float

    @property
    def pitch_m(self) -> float:
        return self.sensor_width_m / self.width_px

    @property
    def lens_radius_m(self) -> float:
        return self.focal_length_m / (2.0 * self.f_number)


@dataclass(frozen=True)
class Footprint:
    """Where an emitter's disc falls: pinhole centre (px from the frame centre, y up), its
    pinhole radius and CoC radius in px, and ``k`` (m of lens per px, signed: < 0 behind focus)."""

    centre_px: tuple[float, float]
    emitter_radius_px: float
    coc_radius_px: float
    k_m_per_px: float
    lens_scale: float = 1.0  # 1 − z/S: an emitter offset q − c is this times a lens offset


def footprint(view: LensView, centre_m, radius_m: float) -> Footprint | None:
    """The footprint of an emitter at ``centre_m`` (camera frame), or None when it is behind the
    camera or exactly on the focus plane's conjugate singularity (never for a real scene)."""
    x, y, zc = (float(v) for v in centre_m)
    z = -zc
    if not z > 0:
        return None
    f, p, s = view.focal_length_m, view.pitch_m, view.focus_distance_m
    a = 1.0 - z / s
    centre = (x / z * f / p, y / z * f / p)
    r_e = math.sqrt(EMITTER_AREA_FACTOR) * radius_m * f / (z * p)
    coc = view.lens_radius_m * f * abs(1.0 / z - 1.0 / s) / p
    k = z * p / (f * a) if a != 0 else math.inf
    return Footprint(centre, r_e, coc, k, a)


def subsamples(fp: Footprint) -> int:
    """Sub-pixels per pixel: a step of at most a quarter pixel, a third of the emitter's radius
    and a quarter of the CoC radius (capped at ``MAX_SUBSAMPLES``)."""
    step = min(0.25, fp.emitter_radius_px / 3.0, max(fp.coc_radius_px, 1e-3) / 4.0)
    return int(min(MAX_SUBSAMPLES, max(4, math.ceil(1.0 / max(step, 1e-6)))))


def _bilinear(img: np.ndarray, col: np.ndarray, row: np.ndarray, edge: bool = False):
    """``img`` at fractional (col, row) pixel-centre coordinates, bilinear; 0 outside, or with
    ``edge`` the nearest edge value (a blocked-ray grid goes on past the lens)."""
    coords = np.stack([np.asarray(row, np.float64), np.asarray(col, np.float64)])
    mode = "nearest" if edge else "grid-constant"
    return map_coordinates(np.asarray(img, np.float64), coords, order=1, mode=mode, cval=0.0)


def _disc(radius_sub: float) -> np.ndarray:
    """A unit-height disc of ``radius_sub`` sub-pixels, area-sampled (8x8 per cell) and scaled
    to sum to its exact area ``π r²``."""
    n = int(math.ceil(radius_sub)) + 1
    t = (np.arange(-n, n + 1)[:, None] + (np.arange(8) + 0.5)[None, :] / 8 - 0.5).ravel()
    inside = (t[:, None] ** 2 + t[None, :] ** 2) <= radius_sub**2
    cover = inside.reshape(2 * n + 1, 8, 2 * n + 1, 8).mean(axis=(1, 3))
    return cover * (math.pi * radius_sub**2 / max(cover.sum(), 1e-12))


@dataclass(frozen=True)
class Hidden:
    """What hides an emitter: for each of ``m`` points ``q_e = c + offsets_m[e]`` of its disc
    (x right, y up, at its depth; equal shares of its area), ``grids[e]`` is 1 where the ray from
    lens point ``u0 + offsets_m[e] / (1 − z/S)`` to ``q_e`` is blocked, on a grid of lens points
    ``u0`` over the mask's square (rows from the top). A camera ray of the pixel whose footprint
    centre is ``u0`` meets the emitter at ``q = c + (1 − z/S)(u − u0)``: those are its rays."""

    offsets_m: np.ndarray  # (m, 2)
    grids: np.ndarray  # (m, n, n), n any size


def disc_points(radius_m: float, n_points: int = 19) -> np.ndarray:
    """``n_points`` (7 or 19) points covering a disc of ``radius_m`` in equal shares, as (x, y)
    offsets: 7 = the centre and 6 at ``r √(7/12)`` (the disc's second moment); 19 = a hexagonal
    pattern (the centre, 6 at spacing ``a``, 6 at ``√3 a``, 6 at ``2a``)."""
    if n_points == 7:
        ring = radius_m * math.sqrt(7 / 12)
        t = math.pi / 3 * np.arange(6)
        return np.concatenate([[[0.0, 0.0]], np.stack([ring * np.cos(t), ring * np.sin(t)], -1)])
    if n_points != 19:
        raise ValueError(f"n_points must be 7 or 19, got {n_points}")
    a = radius_m * math.sqrt(2 * math.pi / (19 * math.sqrt(3)))
    pts = [(0.0, 0.0)]
    for i in range(6):
        t = math.pi / 3 * i
        for r, dt in ((a, 0.0), (math.sqrt(3) * a, math.pi / 6), (2 * a, 0.0)):
            pts.append((r * math.cos(t + dt), r * math.sin(t + dt)))
    return np.asarray(pts)


def _lens_coords(mask_px: int, r_lens: float, ux, uy):
    """(col, row) in a square grid of ``mask_px`` over ``[−R, R]²`` of lens points (ux, uy)."""
    return (ux / r_lens + 1.0) * mask_px / 2 - 0.5, (1.0 - uy / r_lens) * mask_px / 2 - 0.5


def _hidden_share(view, fp, mask, hidden: Hidden, ux, uy, conv, disc_sum) -> np.ndarray:
    """What the blocked rays take from ``conv`` (the unblocked disc, sub-pixels): where every
    point of the emitter is blocked alike, ``conv · H_0(u0)``; in the penumbra (where the
    points differ) the mean over the points of ``M(u0 + w_e) · (H_e − H_0)(u0)`` on top."""
    r_lens, a = view.lens_radius_m, fp.lens_scale
    grids = np.asarray(hidden.grids, np.float64)
    gc, gr = _lens_coords(grids.shape[1], r_lens, ux, uy)
    taken = conv * _bilinear(grids[0], gc, gr, edge=True)
    differs = (grids != grids[:1]).any(axis=0)
    if not differs.any():
        return taken
    near = _bilinear(binary_dilation(differs).astype(np.float64), gc, gr, edge=True) > 0
    uxs, uys, gcs, grs = ux[near], uy[near], gc[near], gr[near]
    extra = np.zeros(uxs.shape)
    for off, grid in zip(hidden.offsets_m[1:], grids[1:] - grids[0], strict=True):
        if not grid.any():
            continue
        mc, mr = _lens_coords(mask.shape[0], r_lens, uxs + off[0] / a, uys + off[1] / a)
        extra += _bilinear(mask, mc, mr) * _bilinear(grid, gcs, grs, edge=True)
    taken[near] += disc_sum * extra / len(hidden.offsets_m)
    return taken


def splat(
    view: LensView, fp: Footprint, mask: np.ndarray, hidden: Hidden | None = None
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """One emitter's disc per unit radiance: ``(tile, (row0, col0))``, the tile's top-left pixel
    in the frame, or None when the disc misses the frame. ``mask`` is the aperture kernel (square,
    lens x right / y up, row 0 at the top, spanning the circumscribed circle ``[−R, R]²``);
    ``hidden`` takes away the rays that the scene blocks (:class:`Hidden`)."""
    w, h = view.width_px, view.height_px
    reach = fp.coc_radius_px + fp.emitter_radius_px + 1.0
    cx, cy = fp.centre_px
    # the emitter's tile in frame pixels (column from the left, row from the top)
    full = (
        int(math.floor(h / 2 - cy - reach)),
        int(math.floor(cx + w / 2 - reach)),
        int(math.ceil(h / 2 - cy + reach)),
        int(math.ceil(cx + w / 2 + reach)),
    )
    r0, c0, r1, c1 = max(0, full[0]), max(0, full[1]), min(h, full[2]), min(w, full[3])
    if c0 >= c1 or r0 >= r1:
        return None
    ss = subsamples(fp)
    cols = c0 + (np.arange((c1 - c0) * ss) + 0.5) / ss - w / 2  # X, px from the centre
    rows = h / 2 - (r0 + (np.arange((r1 - r0) * ss) + 0.5) / ss)  # Y, up
    disc = _disc(fp.emitter_radius_px * ss)
    in_focus = not math.isfinite(fp.k_m_per_px) or fp.coc_radius_px * ss < 0.5
    if in_focus:  # the footprint is a point (a sub-pixel's worth of lens mapped to it)
        d_open = np.zeros((rows.size, cols.size))
        d_open[int(np.argmin(np.abs(rows - cy))), int(np.argmin(np.abs(cols - cx)))] = 1.0
        seen = 1.0
        if hidden is not None:  # the share of the open lens that sees the emitter
            g = hidden.grids.mean(axis=0)
            m = resample_nearest(mask, g.shape[0])
            seen = 1.0 - float((m * g).sum() / max(m.sum(), 1e-12))
        layer = fftconvolve(d_open * seen, disc, mode="same")
    else:
        ux, uy = np.broadcast_arrays(
            fp.k_m_per_px * (cx - cols)[None, :], fp.k_m_per_px * (cy - rows)[:, None]
        )  # each sub-pixel's footprint centre on the lens
        d_open = _bilinear(mask, *_lens_coords(mask.shape[0], view.lens_radius_m, ux, uy))
        layer = fftconvolve(d_open, disc, mode="same")
        if hidden is not None:
            layer -= _hidden_share(view, fp, mask, hidden, ux, uy, layer, disc.sum())
    total_open = d_open.sum()
    if total_open <= 0:
        return None
    # normalise by the whole open footprint, in or out of the tile
    if (r0, c0, r1, c1) != full:
        total_open = _open_area_sub(fp, mask, ss, total_open)
    layer = np.clip(layer / total_open, 0.0, None)
    tile = layer.reshape(r1 - r0, ss, c1 - c0, ss).mean(axis=(1, 3))
    return tile, (r0, c0)


def resample_nearest(a: np.ndarray, size: int) -> np.ndarray:
    """Square ``a`` at ``size``² by nearest neighbour (pixel centres)."""
    idx = np.minimum(((np.arange(size) + 0.5) * a.shape[0] / size).astype(int), a.shape[0] - 1)
    return a[idx][:, idx]


def _open_area_sub(fp: Footprint, mask: np.ndarray, ss: int, inside_total: float) -> float:
    """The open footprint's area in sub-pixels² (the mask's mean times the footprint square's
    area), for a disc cut by the frame's border."""
    if fp.coc_radius_px * ss < 0.5:
        return max(inside_total, 1.0)
    side_sub = 2.0 * fp.coc_radius_px * ss
    return float(mask.mean()) * side_sub * side_sub


def add_layer(frame: np.ndarray, tile: np.ndarray, origin: tuple[int, int], radiance) -> None:
    """Add ``tile × radiance`` (an RGB triple) into the H×W×3 linear ``frame`` at ``origin``."""
    r0, c0 = origin
    h, w = tile.shape
    frame[r0 : r0 + h, c0 : c0 + w, :] += tile[..., None] * np.asarray(radiance, np.float64)
