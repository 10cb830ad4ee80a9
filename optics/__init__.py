"""Lens physics shared by every stage: one vectorised numpy implementation of each formula.

Conventions (docs/architecture.md section 3): lengths in metres unless a name says ``_mm`` or
``_px``; depth ``z`` is planar camera-z; disparity is ``1/z`` in 1/m; the focus distance ``S`` is
planar.
``coc`` holds circle-of-confusion physics (Cycles and textbook thin lens, hyperfocal distance,
depth-of-field limits, inverse focus), ``genrefocus`` disparity, the K scale and the defocus map
the released BokehNet consumes (``defocus_level`` also takes torch tensors, without importing
torch), ``sensor`` the sensor width / crop / equivalent f-number from EXIF fields, ``bokeh`` the
classical layered reference renderer (AIF + disparity + K -> bokeh with that same CoC) and the
round aperture at a CoC (``disc_kernel``, ``aperture_kernel``), ``aperture`` the aperture
geometry as kernel images (built-in shapes, Cycles' blades / rotation / anamorphic ratio, user
kernels, light loss).
This package imports only numpy; it must never import bpy, Ray or torch.
"""

from optics.bokeh import (
    linear_to_srgb,
    render_bokeh,
    signed_coc_radius_px,
    srgb_to_linear,
)
from optics.coc import (
    coc_cycles_m,
    coc_cycles_px,
    coc_thin_lens_m,
    coc_thin_lens_px,
    dof_limits_m,
    focus_for_coc_m,
    hyperfocal_m,
)
from optics.genrefocus import (
    MIN_DEPTH_M,
    defocus_level,
    defocus_map,
    depth_problem,
    disparity_from_depth,
    k_exif,
    k_synthetic,
    rescale_k,
)
from optics.highlights import boost_highlights
from optics.sensor import (
    SENSOR_WIDTH_MAX_MM,
    SENSOR_WIDTH_MIN_MM,
    SensorWidth,
    crop_factor,
    f_number_equivalent,
    pixel_ratio,
    sensor_width_from_exif,
)

__all__ = [
    "MIN_DEPTH_M",
    "SENSOR_WIDTH_MAX_MM",
    "SENSOR_WIDTH_MIN_MM",
    "SensorWidth",
    "coc_cycles_m",
    "coc_cycles_px",
    "coc_thin_lens_m",
    "coc_thin_lens_px",
    "crop_factor",
    "defocus_level",
    "defocus_map",
    "depth_problem",
    "disparity_from_depth",
    "dof_limits_m",
    "f_number_equivalent",
    "focus_for_coc_m",
    "hyperfocal_m",
    "k_exif",
    "k_synthetic",
    "linear_to_srgb",
    "pixel_ratio",
    "render_bokeh",
    "boost_highlights",
    "rescale_k",
    "sensor_width_from_exif",
    "signed_coc_radius_px",
    "srgb_to_linear",
]
