"""CoC physics: pinned values (docs/architecture.md section 3) and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optics import (
    coc_cycles_m,
    coc_cycles_px,
    coc_thin_lens_px,
    dof_limits_m,
    focus_for_coc_m,
    hyperfocal_m,
    k_synthetic,
)

REL = 1e-3  # pinned values hold within 0.1 %


def test_cycles_coc_50mm_f18_focus_2m_point_at_1m():
    c = coc_cycles_px(50, 1.8, 2.0, 1.0, 36, 512)
    assert c == pytest.approx(-9.877, rel=REL)  # in front of the focus plane: negative


def test_cycles_coc_100mm_f2_focus_half_metre_point_at_1m():
    c = coc_cycles_px(100, 2.0, 0.5, 1.0, 36, 512)
    assert c == pytest.approx(71.11, rel=REL)  # behind the focus plane: positive


@pytest.mark.parametrize(
    "focal_mm,n,s,z", [(50, 1.8, 2.0, 1.0), (100, 2.0, 0.5, 1.0), (24, 8, 5, 30), (135, 2.8, 3, 2)]
)
def test_cycles_over_thin_lens_is_s_minus_f_over_s(focal_mm, n, s, z):
    # The issue wrote this ratio as thin/Cycles; the numbers of docs/architecture.md section 3
    # (0.975 at 50 mm, S = 2 m: the textbook over-predicts) make it Cycles/thin = (S - f)/S,
    # which is what holds.
    ratio = coc_cycles_px(focal_mm, n, s, z, 36, 512) / coc_thin_lens_px(focal_mm, n, s, z, 36, 512)
    f_m = focal_mm / 1000
    assert ratio == pytest.approx((s - f_m) / s, rel=1e-9)


def test_design_doc_ratio_examples():
    assert coc_cycles_px(50, 2, 2, 1, 36, 512) / coc_thin_lens_px(50, 2, 2, 1, 36, 512) == (
        pytest.approx(0.975, rel=REL)
    )
    assert coc_cycles_px(100, 2, 0.5, 1, 36, 512) / coc_thin_lens_px(100, 2, 0.5, 1, 36, 512) == (
        pytest.approx(0.80, rel=REL)
    )


def test_coc_is_vectorised_over_a_depth_map():
    z = np.linspace(0.5, 20, 64).reshape(8, 8)
    c = coc_cycles_px(50, 1.8, 2.0, z, 36, 512)
    assert c.shape == (8, 8)
    assert c[0, 0] < 0 < c[-1, -1]


lens = st.fixed_dictionaries(
    {
        "focal_mm": st.floats(10, 300),
        "n": st.floats(0.95, 22),
        "sensor_mm": st.floats(4, 60),
        "width_px": st.integers(16, 8192),
    }
)


@settings(max_examples=200, deadline=None)
@given(lens, st.floats(0.3, 100))
def test_zero_coc_at_the_focus_plane(p, s):
    assert coc_cycles_px(p["focal_mm"], p["n"], s, s, p["sensor_mm"], p["width_px"]) == 0
    if s > p["focal_mm"] / 1000 * 1.01:
        c = coc_thin_lens_px(p["focal_mm"], p["n"], s, s, p["sensor_mm"], p["width_px"])
        assert abs(c) < 1e-9


@settings(max_examples=200, deadline=None)
@given(lens, st.floats(0.3, 50))
def test_coc_grows_monotonically_away_from_the_focus_plane(p, s):
    near = np.linspace(0.05, 1.0, 40) * s  # from near the lens up to the focus plane
    far = s * np.geomspace(1.0, 1e4, 40)
    args = (p["focal_mm"], p["n"], s)
    c_near = np.abs(coc_cycles_px(*args, near, p["sensor_mm"], p["width_px"]))
    c_far = np.abs(coc_cycles_px(*args, far, p["sensor_mm"], p["width_px"]))
    assert np.all(np.diff(c_near) <= 1e-12)  # shrinks towards the focus plane
    assert np.all(np.diff(c_far) >= -1e-12)  # grows behind it
    assert np.all(coc_cycles_px(*args, near[:-1], p["sensor_mm"], p["width_px"]) < 0)


@settings(max_examples=200, deadline=None)
@given(lens, st.floats(0.3, 50), st.floats(0.1, 200))
def test_twice_k_synthetic_times_disparity_step_is_the_cycles_coc(p, s, z):
    k = k_synthetic(p["focal_mm"], p["n"], p["sensor_mm"], p["width_px"])
    c = coc_cycles_px(p["focal_mm"], p["n"], s, z, p["sensor_mm"], p["width_px"])
    assert 2 * k * abs(1 / z - 1 / s) == pytest.approx(abs(c), rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(lens, st.floats(0.3, 50), st.floats(-60, 60))
def test_focus_for_coc_inverts_the_cycles_coc(p, z, coc_px):
    s = focus_for_coc_m(p["focal_mm"], p["n"], z, coc_px, p["sensor_mm"], p["width_px"])
    if np.isnan(s):  # the wanted blur is out of reach: even focusing at 0 m gives less
        f_m = p["focal_mm"] / 1000
        c_m = coc_px / p["width_px"] * p["sensor_mm"] / 1000
        assert 1 / z + c_m * p["n"] / f_m**2 <= 0
        return
    back = coc_cycles_px(p["focal_mm"], p["n"], s, z, p["sensor_mm"], p["width_px"])
    assert back == pytest.approx(coc_px, rel=1e-7, abs=1e-7)


def test_focus_for_coc_thin_lens_inverts_the_thin_lens():
    s = focus_for_coc_m(50, 1.8, 1.0, -9.5, 36, 512, model="thin_lens")
    assert coc_thin_lens_px(50, 1.8, s, 1.0, 36, 512) == pytest.approx(-9.5, rel=1e-9)


def test_hyperfocal_and_dof_limits_cycles():
    # 50 mm f/8 with a 0.03 mm CoC limit: H = f^2/(N c) = 0.0025/(8 * 3e-5) = 10.4167 m.
    h = hyperfocal_m(50, 8, 3e-5)
    assert h == pytest.approx(10.4167, rel=REL)
    near, far = dof_limits_m(50, 8, h, 3e-5)
    assert near == pytest.approx(h / 2, rel=1e-9) and np.isinf(far)
    near, far = dof_limits_m(50, 8, 3.0, 3e-5)
    for z in (near, far):  # the limits are exactly where the CoC reaches the limit
        assert abs(coc_cycles_m(50, 8, 3.0, z)) == pytest.approx(3e-5, rel=1e-9)
    assert near < 3.0 < far


def test_hyperfocal_and_dof_limits_thin_lens():
    h = hyperfocal_m(50, 8, 3e-5, model="thin_lens")
    assert h == pytest.approx(10.4167 + 0.05, rel=REL)  # the textbook adds f
    near, far = dof_limits_m(50, 8, 3.0, 3e-5, model="thin_lens")
    from optics import coc_thin_lens_m

    for z in (near, far):
        assert abs(coc_thin_lens_m(50, 8, 3.0, z)) == pytest.approx(3e-5, rel=1e-9)


def test_unknown_lens_model_is_refused():
    with pytest.raises(ValueError, match="unknown lens model"):
        hyperfocal_m(50, 8, 3e-5, model="pinhole")
