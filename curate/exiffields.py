"""The EXIF values curate uses (``ExifFields``), from exifread's tags or the tolerant reader's.

Both readers return tags under exifread's names (``Image Make``, ``EXIF FNumber``) with exifread's
``values``/``field_type``; ``fields_from_tags`` turns either into an ``ExifFields``. Facts it
encodes (docs/architecture.md section 6): a rational ``0/0`` (exifread returns it as 0) and any
zero or non-finite value is *missing*; the f-number is ``FNumber``, else APEX ``ApertureValue``:
``N = 2^(Av/2)`` (an Av so large that ``N`` overflows gives ``inf``; ``-5000`` gives ``0.0``:
this module reports what the file says, ``filters.check_plausible`` rejects what no lens can be);
``Make``/``Model`` live in IFD0, but some phones put them in the EXIF IFD; strings are reported as
``exiftool -j`` prints them (``_text``). ``curate.exif.parse_exif`` decides which reader to trust:
``block_unsound`` (exifread read past a block that ends early), ``misses_required`` (a value the
filters need is missing) and ``merge_fields``. Imports ``curate.exifblock``'s constants only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from curate.exifblock import ASCII, BAD_BYTES, PERL_SPACE


@dataclass
class ExifFields:
    """The EXIF values curate uses; ``None`` means missing (absent, 0/0, zero or non-finite)."""

    has_exif: bool = False
    make: str | None = None
    model: str | None = None
    lens_model: str | None = None
    f_number: float | None = None
    f_number_source: str | None = None  # "FNumber" or "ApertureValue"
    aperture_value: float | None = None  # the APEX Av, when the f-number came from it
    focal_length_mm: float | None = None
    focal_length_35mm: float | None = None
    focal_plane_x_resolution: float | None = None
    focal_plane_resolution_unit: int | None = None
    exif_image_width_px: int | None = None
    orientation: int | None = None
    capture_time: str | None = None
    # the EXIF block runs past the end of the bytes parsed (a head): re-read the whole file
    block_cut: bool = False


def _number(tag) -> float | None:
    """First value of a tag as a float; 0/0, zero, negative and non-finite are missing."""
    if tag is None:
        return None
    values = getattr(tag, "values", None)
    if isinstance(values, (list, tuple)):
        if not values:
            return None
        v = values[0]
    else:
        v = values
    den = getattr(v, "denominator", getattr(v, "den", 1))
    if den == 0:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _signed(tag) -> float | None:
    """Like ``_number`` but keeps zero and negative values (APEX values may be <= 0)."""
    if tag is None or not getattr(tag, "values", None):
        return None
    v = tag.values[0]
    if getattr(v, "denominator", getattr(v, "den", 1)) == 0:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) else None


def _text(tag, rstrip: bool = False) -> str | None:
    """A string tag as ``exiftool -j`` prints it: up to its first NUL (exifread cuts there, as
    ExifTool does), NULs dropped, invalid UTF-8 bytes as ``?``, trailing whitespace removed only
    with ``rstrip`` (ExifTool's ``RawConv`` of Make and Model; LensModel keeps it). None when
    missing, blank, or stored with another type: exifread prints an UNDEFINED or BYTE Make as a
    Python list, so the tolerant reader (``curate.exifblock``) reads it as ExifTool does."""
    if tag is None or getattr(tag, "field_type", ASCII) != ASCII:
        return None
    values = getattr(tag, "values", tag)
    if isinstance(values, bytes):  # exifread keeps bytes it cannot decode as UTF-8
        values = values.decode("utf-8", "surrogateescape").translate(BAD_BYTES)
    text = str(values)
    if rstrip:  # before the NULs go: "Canon \0" stays "Canon " in ExifTool too
        text = text.rstrip(PERL_SPACE)
    text = text.replace("\x00", "")
    return text if text.strip() else None


def _first(tags: dict, *names: str):
    for n in names:
        if n in tags:
            return tags[n]
    return None


def apex_f_number(av: float) -> float:
    """``N = 2^(Av/2)``; ``inf`` where that overflows a float (Av above ~2046)."""
    try:
        return 2.0 ** (av / 2.0)
    except OverflowError:
        return math.inf


_USED_TAGS = (
    "Image Make", "EXIF Make", "Image Model", "EXIF Model", "EXIF LensModel", "Image LensModel",
    "EXIF FNumber", "Image FNumber", "EXIF ApertureValue", "Image ApertureValue",
    "EXIF FocalLength", "Image FocalLength", "EXIF FocalLengthIn35mmFilm",
    "EXIF FocalPlaneXResolution", "EXIF FocalPlaneResolutionUnit", "EXIF ExifImageWidth",
    "Image Orientation",
)  # fmt: skip


def block_unsound(tiff: bytes, tags: dict) -> bool:
    """The block ends before IFD0's or the EXIF IFD's entry table, or before a value curate
    reads (exifread then reads zeros: offset 0, the TIFF header as a Make), or such a value
    points into the TIFF header (ExifTool: "Suspicious offset", dropped)."""
    n = len(tiff)
    if n < 8 or tiff[:2] not in (b"II", b"MM"):
        return False
    order = "<" if tiff[:2] == b"II" else ">"
    starts = [int.from_bytes(tiff[4:8], "little" if order == "<" else "big")]
    pointer = tags.get("Image ExifOffset")
    if pointer is not None and getattr(pointer, "values", None):
        starts.append(pointer.values[0])
    for start in starts:
        if not isinstance(start, int) or start + 2 > n:
            return True
        count = int.from_bytes(tiff[start : start + 2], "little" if order == "<" else "big")
        if start + 2 + 12 * count > n:
            return True
    for name in _USED_TAGS:
        tag = tags.get(name)
        if tag is None:
            continue
        offset, length = getattr(tag, "field_offset", 8), getattr(tag, "field_length", 0)
        if offset + length > n or (length > 4 and offset < 8):  # past the end, in the header
            return True
    return False


def misses_required(fields: ExifFields) -> bool:
    """A reader left out a value the filters need (or read it with a type it cannot print)."""
    return None in (fields.make, fields.model, fields.f_number, fields.focal_length_mm)


def merge_fields(first: ExifFields, second: ExifFields) -> ExifFields:
    """``first``'s values, with ``second``'s where ``first`` has none (an FNumber beats an
    f-number derived from ApertureValue)."""
    out = ExifFields(**{k: v for k, v in asdict(first).items()})
    for key, value in asdict(second).items():
        if getattr(out, key) is None and value is not None:
            setattr(out, key, value)
    if first.f_number_source != "FNumber" and second.f_number_source == "FNumber":
        out.f_number, out.f_number_source, out.aperture_value = second.f_number, "FNumber", None
    out.has_exif = first.has_exif or second.has_exif
    return out


def fields_from_tags(tags: dict) -> ExifFields:
    """The ``ExifFields`` of exifread's or the tolerant reader's tags (thumbnail tags ignored)."""
    tags = {k: v for k, v in (tags or {}).items() if not k.startswith(("Thumbnail ", "JPEGThumb"))}
    if not tags:
        return ExifFields()
    out = ExifFields(has_exif=True)
    out.make = _text(_first(tags, "Image Make", "EXIF Make"), rstrip=True)
    out.model = _text(_first(tags, "Image Model", "EXIF Model"), rstrip=True)
    out.lens_model = _text(_first(tags, "EXIF LensModel", "Image LensModel"))
    n = _number(_first(tags, "EXIF FNumber", "Image FNumber"))
    if n is not None:
        out.f_number, out.f_number_source = n, "FNumber"
    else:
        av = _signed(_first(tags, "EXIF ApertureValue", "Image ApertureValue"))
        if av is not None:
            out.f_number, out.f_number_source = apex_f_number(av), "ApertureValue"
            out.aperture_value = av
    out.focal_length_mm = _number(_first(tags, "EXIF FocalLength", "Image FocalLength"))
    out.focal_length_35mm = _number(
        _first(tags, "EXIF FocalLengthIn35mmFilm", "Image FocalLengthIn35mmFilm")
    )
    out.focal_plane_x_resolution = _number(
        _first(tags, "EXIF FocalPlaneXResolution", "Image FocalPlaneXResolution")
    )
    unit = _number(_first(tags, "EXIF FocalPlaneResolutionUnit", "Image FocalPlaneResolutionUnit"))
    out.focal_plane_resolution_unit = int(unit) if unit is not None else None
    width = _number(_first(tags, "EXIF ExifImageWidth", "Image ExifImageWidth"))
    out.exif_image_width_px = int(width) if width is not None else None
    orientation = _number(_first(tags, "Image Orientation", "EXIF Orientation"))
    if orientation is not None and 1 <= orientation <= 8:
        out.orientation = int(orientation)
    capture = _text(_first(tags, "EXIF DateTimeOriginal", "Image DateTime"))
    out.capture_time = capture.strip() if capture else None
    return out
