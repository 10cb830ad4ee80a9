"""Batched ray casting (synth.raycast) against analytic geometry."""

import numpy as np
import pytest

from synth import raycast
from synth.raycast import Triangles, first_hit, near_hull


def _square(z: float, half: float = 1.0) -> Triangles:
    """The square |x|, |y| <= half at depth z (facing the camera), two triangles."""
    a, b, c, d = (-half, -half, z), (half, -half, z), (half, half, z), (-half, half, z)
    return Triangles.from_corners(np.array([[a, b, c], [a, c, d]]))


def test_hits_at_the_right_distance_and_misses_outside():
    tris = _square(-2.0)
    o = np.zeros((4, 3))
    d = np.array([[0, 0, -1.0], [0.3, 0.2, -1.0], [0.9, 0, -0.3], [0, 0, 1.0]])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t = first_hit(o, d, np.full(4, 10.0), tris)
    assert t[0] == pytest.approx(2.0)
    assert t[1] == pytest.approx(2.0 / abs(d[1, 2]))
    assert np.isinf(t[2])  # leaves the square's side before depth 2
    assert np.isinf(t[3])  # away from it


def test_stops_at_t_max_and_takes_the_nearest():
    tris = Triangles.from_corners(np.concatenate([_corners(-3.0), _corners(-1.5)]))
    o, d = np.zeros((2, 3)), np.array([[0, 0, -1.0], [0, 0, -1.0]])
    t = first_hit(o, d, np.array([10.0, 1.0]), tris)
    assert t[0] == pytest.approx(1.5)
    assert np.isinf(t[1])


def _corners(z):
    return np.array([[(-1, -1, z), (1, -1, z), (1, 1, z)], [(-1, -1, z), (1, 1, z), (-1, 1, z)]])


def test_chunks_agree(monkeypatch):
    rng = np.random.default_rng(0)
    tris = Triangles.from_corners(rng.uniform(-1, 1, (40, 3, 3)) + np.array([0, 0, -3.0]))
    d = rng.normal(size=(500, 3)) * [0.3, 0.3, 0] + [0, 0, -1.0]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    whole = first_hit(np.zeros((500, 3)), d, np.full(500, 9.0), tris)
    monkeypatch.setattr(raycast, "CHUNK", 97)
    chunked = first_hit(np.zeros((500, 3)), d, np.full(500, 9.0), tris)
    assert np.array_equal(whole, chunked)
    assert np.isfinite(whole).sum() > 50


def test_near_hull_keeps_what_can_block_and_drops_the_rest():
    """Between the lens (radius 0.05 m) and an emitter 4 m away on the axis: a small square
    on the axis at 2 m can block, one 1 m off the axis cannot, nor one behind the emitter."""
    on_axis = _square(-2.0, 0.01)
    off_axis = Triangles.from_corners(_corners(-2.0) * [0.01, 0.01, 1] + [1.0, 0, 0])
    behind = _square(-6.0, 0.01)
    tris = Triangles.from_corners(
        np.concatenate(
            [np.stack([t.v0, t.v0 + t.e1, t.v0 + t.e2], 1) for t in (on_axis, off_axis, behind)]
        )
    )
    keep = near_hull(tris.centre, tris.radius, 0.05, (0.0, 0.0, -4.0), 0.01)
    assert keep.tolist() == [True, True, False, False, False, False]
