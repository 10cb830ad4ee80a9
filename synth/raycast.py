"""Ray casting against triangle meshes in numpy, many rays at once (Möller–Trumbore).

:mod:`synth.blender.splat` asks, for thousands of rays from lens points to an emitter, whether
the scene blocks them. ``Scene.ray_cast`` answers one ray per Python call (about 25 µs); here a
batch of rays is tested against the few triangles that can matter at all (those whose bounding
sphere meets the hull of the lens and the emitter), chunked to bound memory. The triangles are
the evaluated meshes Cycles renders, so the answer is Cycles' geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 20  # rays × triangles per step
EPS = 1e-12


@dataclass(frozen=True)
class Triangles:
    """``v0, e1, e2`` (M×3 each: a corner and the two edges from it), with each triangle's
    bounding sphere (``centre`` M×3, ``radius`` M)."""

    v0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    centre: np.ndarray
    radius: np.ndarray

    @classmethod
    def from_corners(cls, corners: np.ndarray) -> Triangles:
        """From an M×3×3 array of triangle corners (world coordinates, m)."""
        c = np.asarray(corners, np.float64).reshape(-1, 3, 3)
        centre = c.mean(axis=1)
        radius = np.linalg.norm(c - centre[:, None], axis=2).max(axis=1)
        return cls(c[:, 0], c[:, 1] - c[:, 0], c[:, 2] - c[:, 0], centre, radius)

    def __len__(self) -> int:
        return int(self.v0.shape[0])

    def subset(self, keep: np.ndarray) -> Triangles:
        return Triangles(
            self.v0[keep], self.e1[keep], self.e2[keep], self.centre[keep], self.radius[keep]
        )


def near_hull(centres, radii, lens_radius_m: float, centre_m, radius_m: float) -> np.ndarray:
    """Which spheres (``centres`` M×3, ``radii`` M: bounding spheres of triangles, or emitters)
    may meet the hull of the lens (a disc of ``lens_radius_m`` at the origin, facing −Z) and the
    emitter sphere: conservative, by the distance to the segment lens centre → emitter against
    the hull's radius there (``R (1 − s) + ρ s``, taken at the sphere's nearest reach)."""
    c = np.asarray(centre_m, np.float64)
    centres = np.asarray(centres, np.float64).reshape(-1, 3)
    radii = np.asarray(radii, np.float64)
    length2 = float(c @ c)
    s = np.clip(centres @ c / length2, 0.0, 1.0)
    gap = np.linalg.norm(centres - s[:, None] * c, axis=1)
    s_near = np.maximum(0.0, s - radii / np.sqrt(length2))
    hull = lens_radius_m * (1.0 - s_near) + radius_m * s_near
    return gap <= radii + hull


def first_hit_spheres(origins, directions, t_max, centres, radii) -> np.ndarray:
    """As :func:`first_hit`, against spheres (``centres`` M×3, ``radii`` M)."""
    o = np.asarray(origins, np.float64)
    d = np.asarray(directions, np.float64)
    best = np.full(o.shape[0], np.inf)
    centres = np.asarray(centres, np.float64).reshape(-1, 3)
    if centres.shape[0] == 0 or o.shape[0] == 0:
        return best
    t_max = np.asarray(t_max, np.float64)
    step = max(1, CHUNK // centres.shape[0])
    for a in range(0, o.shape[0], step):
        b = min(o.shape[0], a + step)
        oc = o[a:b, None, :] - centres[None]  # N×M×3
        half_b = np.einsum("nk,nmk->nm", d[a:b], oc)
        disc = half_b * half_b - (np.einsum("nmk,nmk->nm", oc, oc) - radii[None] ** 2)
        root = np.sqrt(np.maximum(disc, 0.0))
        t0, t1 = -half_b - root, -half_b + root
        t = np.where(t0 > 0, t0, t1)  # from inside a sphere: its far side
        hit = (disc >= 0) & (t > 0) & (t < t_max[a:b, None])
        best[a:b] = np.where(hit, t, np.inf).min(axis=1)
    return best


def first_hit(origins, directions, t_max, tris: Triangles) -> np.ndarray:
    """For each ray (``origins`` N×3, unit ``directions`` N×3), the distance to the first
    triangle it crosses before ``t_max`` (N), inf when none."""
    o = np.asarray(origins, np.float64)
    d = np.asarray(directions, np.float64)
    t_max = np.asarray(t_max, np.float64)
    best = np.full(o.shape[0], np.inf)
    if len(tris) == 0 or o.shape[0] == 0:
        return best
    step = max(1, CHUNK // len(tris))
    for a in range(0, o.shape[0], step):
        b = min(o.shape[0], a + step)
        best[a:b] = _first_hit_chunk(o[a:b], d[a:b], t_max[a:b], tris)
    return best


def _cross(a, b):
    """``a × b`` over the last axis (broadcast), without ``np.cross``'s overhead."""
    return np.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        axis=-1,
    )


def _first_hit_chunk(o, d, t_max, tris: Triangles) -> np.ndarray:
    p = _cross(d[:, None, :], tris.e2[None])  # N×M×3
    det = np.einsum("nmk,mk->nm", p, tris.e1)
    ok = np.abs(det) > EPS
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = o[:, None, :] - tris.v0[None]
    u = np.einsum("nmk,nmk->nm", s, p) * inv
    q = _cross(s, tris.e1[None])
    v = np.einsum("nk,nmk->nm", d, q) * inv
    t = np.einsum("nmk,mk->nm", q, tris.e2) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0) & (t < t_max[:, None])
    return np.where(hit, t, np.inf).min(axis=1)
