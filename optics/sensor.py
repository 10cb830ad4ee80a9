"""Sensor width from EXIF fields, crop factor, equivalent f-number and pixel ratio.

The sensor width (its long side, mm) is resolved from the first source that gives a sane value
(``SENSOR_WIDTH_MIN_MM``..``SENSOR_WIDTH_MAX_MM``):

1. ``crop_35mm``: ``crop = FocalLengthIn35mmFilm / FocalLength``, width ``36 / crop``;
2. ``focal_plane``: ``FocalPlaneXResolution`` (pixels per unit) with its unit and the pixel
   width it refers to (ExifImageWidth); resized files keep the original's resolution and give an
   insane width, which is why the bound exists;
3. ``model_table``: a small make/model table for common bodies whose files lack both tags;
4. ``unresolved``: the photo can still serve DeblurNet, not the EXIF route of BokehNet.

``N_eq = N · crop`` says whether a photo can show real bokeh (an iPhone 13 Pro at f/1.5 is about
f/6.8 equivalent).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FULL_FRAME_WIDTH_MM = 36.0
SENSOR_WIDTH_MIN_MM = 4.0
SENSOR_WIDTH_MAX_MM = 60.0

SOURCES = ("crop_35mm", "focal_plane", "model_table", "unresolved")

# EXIF FocalPlaneResolutionUnit: 2 = inch, 3 = cm; 4 = mm and 5 = µm occur in some writers.
# 1 ("no absolute unit") is treated as inch, as ExifTool and most readers do.
_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}

# Sensor width (long side, mm) of common bodies whose files often lack both the 35 mm focal
# length and the focal-plane resolution. Keys are normalised model strings (see _normalise).
MODEL_TABLE_MM: dict[str, float] = {
    # Canon APS-C (crop 1.6) and full frame
    "canon eos 40d": 22.2,
    "canon eos 50d": 22.3,
    "canon eos 7d": 22.3,
    "canon eos 400d digital": 22.2,
    "canon eos 450d": 22.2,
    "canon eos 550d": 22.3,
    "canon eos 5d": 35.8,
    "canon eos 5d mark ii": 36.0,
    "canon eos 5d mark iii": 36.0,
    "canon eos 6d": 35.8,
    # Nikon DX and FX
    "nikon d70": 23.7,
    "nikon d70s": 23.7,
    "nikon d80": 23.6,
    "nikon d90": 23.6,
    "nikon d200": 23.6,
    "nikon d300": 23.6,
    "nikon d700": 36.0,
    "nikon d3": 36.0,
    # Pentax, Sony, Olympus, Fujifilm, Apple
    "pentax k10d": 23.5,
    "pentax k20d": 23.4,
    "sony dslr-a100": 23.6,
    "olympus e-510": 17.3,
    "finepix e500": 5.76,
    "iphone 6": 4.8,
}


@dataclass(frozen=True)
class SensorWidth:
    """A resolved sensor width (mm, long side) and where it came from (one of ``SOURCES``)."""

    width_mm: float | None
    source: str

    @property
    def resolved(self) -> bool:
        return self.width_mm is not None


def _finite_positive(x) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _sane(width_mm: float | None) -> bool:
    return width_mm is not None and SENSOR_WIDTH_MIN_MM <= width_mm <= SENSOR_WIDTH_MAX_MM


def _normalise(text: str | None) -> str:
    """Lower case, single spaces: ``" NIKON  D70 "`` -> ``"nikon d70"``."""
    return re.sub(r"\s+", " ", (text or "").strip().lower())


def model_table_width_mm(make: str | None, model: str | None) -> float | None:
    """Sensor width from ``MODEL_TABLE_MM``, trying the model alone, then make + model."""
    key = _normalise(model)
    if not key:
        return None
    if key in MODEL_TABLE_MM:
        return MODEL_TABLE_MM[key]
    make_word = _normalise(make).split(" ")[0]
    return MODEL_TABLE_MM.get(f"{make_word} {key}") if make_word else None


def sensor_width_from_exif(
    *,
    focal_length_mm=None,
    focal_length_35mm=None,
    focal_plane_x_resolution=None,
    focal_plane_resolution_unit=None,
    focal_plane_ref_width_px=None,
    make: str | None = None,
    model: str | None = None,
) -> SensorWidth:
    """Resolve the sensor width from EXIF values (missing ones as ``None``); see module doc.

    ``focal_plane_ref_width_px`` is the pixel width the focal-plane resolution refers to
    (ExifImageWidth, else the image width). Zero, negative and non-finite values count as missing.
    """
    f = _finite_positive(focal_length_mm)
    f35 = _finite_positive(focal_length_35mm)
    if f is not None and f35 is not None:
        width = FULL_FRAME_WIDTH_MM * f / f35
        if _sane(width):
            return SensorWidth(width, "crop_35mm")
    xres = _finite_positive(focal_plane_x_resolution)
    ref_px = _finite_positive(focal_plane_ref_width_px)
    unit = focal_plane_resolution_unit
    unit_mm = _UNIT_MM.get(int(unit)) if _finite_positive(unit) is not None else _UNIT_MM[2]
    if xres is not None and ref_px is not None and unit_mm is not None:
        width = ref_px / xres * unit_mm
        if _sane(width):
            return SensorWidth(width, "focal_plane")
    width = model_table_width_mm(make, model)
    if _sane(width):
        return SensorWidth(width, "model_table")
    return SensorWidth(None, "unresolved")


def crop_factor(sensor_width_mm) -> float:
    """Crop factor relative to full frame: ``36 / sensor_width_mm`` (long sides)."""
    return FULL_FRAME_WIDTH_MM / float(sensor_width_mm)


def f_number_equivalent(f_number, sensor_width_mm) -> float:
    """Full-frame-equivalent f-number ``N · crop``: the depth of field a photo can show."""
    return float(f_number) * crop_factor(sensor_width_mm)


def pixel_ratio(width_px, height_px, sensor_width_mm) -> float:
    """Pixels per sensor millimetre: ``max(W, H) / sensor_width_mm`` (long edge to long side)."""
    return max(float(width_px), float(height_px)) / float(sensor_width_mm)
