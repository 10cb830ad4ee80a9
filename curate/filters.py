"""Pass-1 filters: keep a photo only if its EXIF can fix a real blur scale worth learning from.

``check(record, cfg)`` returns ``None`` (keep) or ``Rejection(reason, detail)`` with a reason
from ``manifests.REJECT_REASONS``. Checks, in order (the first failing one is reported):

1. EXIF present (``no_exif``), an f-number (``no_f_number``), a focal length (``no_focal_length``);
2. ``N <= max_f_number`` (``f_number_too_high``);
3. ``min_focal_length_mm <= f <= max_focal_length_mm`` (``focal_length_out_of_range``);
4. ``N_eq = N · crop <= max_f_number_equivalent`` when the sensor width is known
   (``f_number_equivalent_too_high``); with ``require_sensor_width`` an unknown sensor fails too;
5. short side ``>= min_short_side_px`` when the size is known (``too_small``); pass 2 repeats
   this check on the decoded size for files whose header did not give it.

Pure: no I/O, imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from manifests.schemas import REJECT_REASONS


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
