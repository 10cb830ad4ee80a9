"""Pass-1 filters: keep a photo only if its EXIF can fix a real blur scale worth learning from.

``check(record, cfg)`` returns ``None`` (keep) or ``Rejection(reason, detail)`` with a reason
from ``manifests.REJECT_REASONS``. Checks, in order (the first failing one is reported):

1. EXIF present (``no_exif``), an f-number (``no_f_number``), a focal length (``no_focal_length``);
2. every EXIF and derived value finite and inside its physical range (``PLAUSIBLE``, reason
   ``invalid_value``, see :func:`check_plausible`): one photo whose ApertureValue gives f/0 is
   rejected here instead of failing its whole shard at the manifest write;
3. ``N <= max_f_number`` (``f_number_too_high``);
4. ``min_focal_length_mm <= f <= max_focal_length_mm`` (``focal_length_out_of_range``);
5. ``N_eq = N · crop <= max_f_number_equivalent`` when the sensor width is known
   (``f_number_equivalent_too_high``); with ``require_sensor_width`` an unknown sensor fails too;
6. short side ``>= min_short_side_px`` when the size is known (``too_small``); pass 2 repeats
   this check on the decoded size for files whose header did not give it.

Pure: no I/O, imports nothing heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from manifests.schemas import REJECT_REASONS
from optics.sensor import FULL_FRAME_WIDTH_MM, SENSOR_WIDTH_MAX_MM, SENSOR_WIDTH_MIN_MM

# Physical ranges of what pass 1 reads and derives, closed intervals: (low, high, unit).
# f-number: N = 1 / (2 NA) and NA <= 1 in air, so N >= 0.5; pinhole cameras reach f/500.
# Focal length: phone ultra-wides are ~1.5 mm, the longest camera lenses ~5,000 mm.
F_NUMBER_RANGE = (0.5, 1000.0)
FOCAL_LENGTH_RANGE_MM = (0.1, 10000.0)
CROP_RANGE = (FULL_FRAME_WIDTH_MM / SENSOR_WIDTH_MAX_MM, FULL_FRAME_WIDTH_MM / SENSOR_WIDTH_MIN_MM)
PLAUSIBLE: dict[str, tuple[str, float, float, str]] = {
    # key: (what it is, low, high, unit)
    "f_number": ("f-number", *F_NUMBER_RANGE, ""),
    "focal_length_mm": ("focal length", *FOCAL_LENGTH_RANGE_MM, " mm"),
    "focal_length_35mm": ("35 mm equivalent focal length", 1.0, 100000.0, " mm"),
    "sensor_width_mm": ("sensor width", SENSOR_WIDTH_MIN_MM, SENSOR_WIDTH_MAX_MM, " mm"),
    "crop_factor": ("crop factor", *CROP_RANGE, ""),
    "f_number_equivalent": (
        "equivalent f-number",
        F_NUMBER_RANGE[0] * CROP_RANGE[0],
        F_NUMBER_RANGE[1] * CROP_RANGE[1],
        "",
    ),
    # pixels per sensor mm: a thumbnail of a 60 mm frame up to a panorama from a 4 mm sensor
    "pixel_ratio": ("pixel ratio", 0.01, 1e6, " px/mm"),
}


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str

    def __post_init__(self):
        if self.reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}")


def check_size(width_px, height_px, min_short_side_px: int) -> Rejection | None:
    if width_px and height_px and min(width_px, height_px) < min_short_side_px:
        return Rejection(
            "too_small",
            f"short side {min(width_px, height_px)} px < {min_short_side_px} px",
        )
    return None


def check_plausible(record: dict) -> Rejection | None:
    """``invalid_value`` for the first value of ``PLAUSIBLE`` in ``record`` (missing ones are
    skipped) that is not a finite number inside its range; the detail names the value and, for
    an f-number from APEX, the ApertureValue it came from."""
    for key, (what, lo, hi, unit) in PLAUSIBLE.items():
        value = record.get(key)
        if value is None:
            continue
        try:
            x = float(value)
        except (TypeError, ValueError):
            return Rejection("invalid_value", f"{what} {value!r} is not a number")
        if math.isfinite(x) and lo <= x <= hi:
            continue
        source = ""
        if key == "f_number" and record.get("f_number_source"):
            av = record.get("aperture_value")
            tag = record["f_number_source"]
            source = f" (from {tag} {av:g})" if av is not None else f" (from {tag})"
        why = f"is outside the plausible range [{lo:g}, {hi:g}]{unit}"
        if not math.isfinite(x):
            why = "is not finite"
        return Rejection("invalid_value", f"{what} {x:.3g}{unit}{source} {why}")
    return None


def check(record: dict, cfg) -> Rejection | None:
    """First failing filter for a pass-1 ``record`` (EXIF + derived keys), or None to keep.

    ``cfg`` is a ``curate.config.FilterConfig`` (or anything with the same attributes).
    """
    if not record.get("has_exif"):
        return Rejection("no_exif", "no EXIF block")
    n = record.get("f_number")
    if n is None:
        return Rejection("no_f_number", "neither FNumber nor ApertureValue in EXIF")
    f = record.get("focal_length_mm")
    if f is None:
        return Rejection("no_focal_length", "no FocalLength in EXIF")
    implausible = check_plausible(record)
    if implausible is not None:
        return implausible
    if n > cfg.max_f_number:
        return Rejection("f_number_too_high", f"f/{n:.3g} > f/{cfg.max_f_number:g}")
    if not cfg.min_focal_length_mm <= f <= cfg.max_focal_length_mm:
        return Rejection(
            "focal_length_out_of_range",
            f"{f:g} mm outside [{cfg.min_focal_length_mm:g}, {cfg.max_focal_length_mm:g}] mm",
        )
    n_eq = record.get("f_number_equivalent")
    if n_eq is not None and n_eq > cfg.max_f_number_equivalent:
        crop = record.get("crop_factor") or n_eq / n
        return Rejection(
            "f_number_equivalent_too_high",
            f"f/{n:.3g} x crop {crop:.3g} = f/{n_eq:.3g} equivalent > "
            f"f/{cfg.max_f_number_equivalent:g}",
        )
    if n_eq is None and cfg.require_sensor_width:
        return Rejection(
            "f_number_equivalent_too_high",
            "sensor width unresolved, so the equivalent f-number is unknown "
            "(filters.require_sensor_width = true)",
        )
    return check_size(record.get("width_px"), record.get("height_px"), cfg.min_short_side_px)
