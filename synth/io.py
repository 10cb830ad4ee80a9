"""File writers for synth outputs: DoF JPEGs carrying camera EXIF, and atomic JSON (through
``infra.files.atomic_write``, the project's one atomic write).

The JPEG EXIF is what a camera would write, so ``curate`` ingests renders like photos: Make
``refocus-synth``, Model (the sensor), FNumber, FocalLength, FocalLengthIn35mmFilm, and the
focal-plane resolution in pixels per centimetre with the image width it refers to.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from PIL import Image, TiffImagePlugin

from infra.files import atomic_write

EXIF_MAKE = "refocus-synth"

# EXIF tag ids
_MAKE, _MODEL, _SOFTWARE, _EXIF_IFD = 0x010F, 0x0110, 0x0131, 0x8769
_FNUMBER, _FOCAL, _FOCAL35 = 0x829D, 0x920A, 0xA405
_FP_XRES, _FP_YRES, _FP_UNIT = 0xA20E, 0xA20F, 0xA210
_EXIF_W, _EXIF_H, _LENS_MODEL = 0xA002, 0xA003, 0xA434


def _rational(x: float, max_den: int = 100000) -> TiffImagePlugin.IFDRational:
    f = Fraction(x).limit_denominator(max_den)
    return TiffImagePlugin.IFDRational(f.numerator, f.denominator)


def write_exif_jpeg(
    png_path: Path,
    jpeg_path: Path,
    *,
    model: str,
    f_number: float,
    focal_length_mm: float,
    focal_length_35mm: int,
    sensor_width_mm: float,
    quality: int = 95,
    software: str = "refocus-engine synth",
) -> None:
    """Convert a render to JPEG with the camera EXIF a real body would write."""
    img = Image.open(png_path).convert("RGB")
    w, h = img.size
    exif = Image.Exif()
    exif[_MAKE] = EXIF_MAKE
    exif[_MODEL] = model
    exif[_SOFTWARE] = software
    ifd = exif.get_ifd(_EXIF_IFD)
    ifd[_FNUMBER] = _rational(f_number)
    ifd[_FOCAL] = _rational(focal_length_mm)
    ifd[_FOCAL35] = int(focal_length_35mm)
    ifd[_FP_XRES] = _rational(w / (sensor_width_mm / 10.0))  # px per cm
    ifd[_FP_YRES] = _rational(w / (sensor_width_mm / 10.0))
    ifd[_FP_UNIT] = 3  # centimetre
    ifd[_EXIF_W] = w
    ifd[_EXIF_H] = h
    ifd[_LENS_MODEL] = f"thin lens {focal_length_mm:.2f}mm f/{f_number:.2f}"
    img.save(jpeg_path, "JPEG", quality=quality, exif=exif.tobytes())


def write_json_atomic(path: Path, data) -> None:
    """``data`` as indented, key-sorted JSON, written atomically (its folder is created)."""
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
