"""Truth check: the bokeh disc Cycles renders has the diameter ``optics`` predicts (within 3 %).

One small emissive sphere on the optical axis, off the focus plane, black world, no denoising,
no adaptive sampling, linear EXR. The disc size comes from second moments of the image, which
are robust to Monte Carlo noise and anti-aliasing: a uniform disc of diameter D has
``var_x = D²/16``; a regular hexagon with circumradius R has ``var_x = var_y = 5 R²/24``; an
anamorphic ellipse has ``var_x = (D/ratio)²/16`` and ``var_y = D²/16``. The emitter's own image
(a uniform disc of known diameter d) adds ``d²/16``, which is subtracted.
"""

import numpy as np
import OpenEXR
import pytest

from optics import coc_cycles_px
from synth.settings import RenderSettings
from synth.spec import DofSpec

W = 96
SENSOR_MM = 36.0
EMITTER_PX = 4.0


def disc_moments(tmp_path, spec_tools, *, f_mm, n, s_m, z_m, blades, ratio, rotation=0.0):
    from synth.blender.render import render_scene

    radius_m = EMITTER_PX / W * SENSOR_MM / f_mm * z_m / 2
    spec = spec_tools.make_spec(
        width=W,
        height=W,
        focal_mm=f_mm,
        highlights=[spec_tools.emitter_at(z_m, radius_m)],
        dof=[DofSpec(n, s_m, blades, rotation, ratio)],
    )
    render_scene(
        spec,
        tmp_path,
        RenderSettings(samples=1024, denoise=False, exr=True, adaptive_sampling=False),
    )
    with OpenEXR.File(str(tmp_path / "dof_00.exr")) as f:
        ch = f.parts[0].channels
        rgb = ch["RGB"].pixels if "RGB" in ch else np.stack([ch[k].pixels for k in "RGB"], -1)
        lum = np.asarray(rgb, dtype=np.float64).mean(-1)
    y, x = np.mgrid[:W, :W] + 0.5
    m0 = lum.sum()
    assert m0 > 0, "the emitter is not visible"
    mx, my = (x * lum).sum() / m0, (y * lum).sum() / m0
    assert abs(mx - W / 2) < 1 and abs(my - W / 2) < 1  # on the optical axis
    var_x = ((x - mx) ** 2 * lum).sum() / m0 - EMITTER_PX**2 / 16
    var_y = ((y - my) ** 2 * lum).sum() / m0 - EMITTER_PX**2 / 16
    coc = abs(float(coc_cycles_px(f_mm, n, s_m, z_m, SENSOR_MM, W)))
    return coc, var_x, var_y


@pytest.mark.parametrize(
    "f_mm,n,s_m,z_m",
    [(100.0, 1.2, 0.7, 3.0), (100.0, 1.4, 3.0, 0.8)],  # behind and in front of the focus plane
)
def test_round_aperture_disc_matches_the_cycles_coc(tmp_path, spec_tools, f_mm, n, s_m, z_m):
    coc, var_x, var_y = disc_moments(
        tmp_path, spec_tools, f_mm=f_mm, n=n, s_m=s_m, z_m=z_m, blades=0, ratio=1.0
    )
    assert coc > 15
    assert 4 * np.sqrt(var_x) == pytest.approx(coc, rel=0.03)
    assert 4 * np.sqrt(var_y) == pytest.approx(coc, rel=0.03)


def test_six_blade_hexagon_is_inscribed_in_the_coc_circle(tmp_path, spec_tools):
    coc, var_x, var_y = disc_moments(
        tmp_path, spec_tools, f_mm=100.0, n=1.2, s_m=0.7, z_m=3.0, blades=6, ratio=1.0
    )
    for var in (var_x, var_y):
        assert 2 * np.sqrt(24 * var / 5) == pytest.approx(coc, rel=0.03)


def test_anamorphic_ratio_two_halves_the_horizontal_disc(tmp_path, spec_tools):
    coc, var_x, var_y = disc_moments(
        tmp_path, spec_tools, f_mm=100.0, n=1.2, s_m=0.7, z_m=3.0, blades=0, ratio=2.0
    )
    assert 4 * np.sqrt(var_x) == pytest.approx(coc / 2.0, rel=0.03)
    assert 4 * np.sqrt(var_y) == pytest.approx(coc, rel=0.03)
