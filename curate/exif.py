"""Pass 1: EXIF fields from the first bytes of a file, and what optics derives from them.

The EXIF block is located by ``curate.exifblock`` (JPEG APP1, HEIF ``Exif`` item, WebP/PNG
chunk, TIFF) and read first by ``curate.exifblock.read_exif_block``, which follows ExifTool's
rules (every entry and value inside the block is kept, the rest dropped) and is about 7x faster
than exifread on the same block (it decodes only the tags curate uses). When that reader reports
a problem (a table or value past the block's end, a bad offset) or leaves Make, Model, the
f-number or the focal length missing, ``exifread.process_file(..., details=False)`` (MakerNotes
skipped: 22x faster) parses the block alone (so it cannot read on past a block that ends early)
and the two are merged: exifread's values, the tolerant reader's where exifread has
none, the tolerant reader's alone when exifread read past the end. Both agree with exiftool on
every reference file (``tests/curate/test_exif.py``); tags become values by the rules of
``curate.exiffields`` (missing values, FNumber else ApertureValue, strings as ``exiftool -j``
prints them). A truncated file yields partial tags silently, so pass 2 must still decode the
image. HEIF/TIFF may keep their EXIF past the head: with no tags found there, or an EXIF block
that runs past the head (any format), the caller re-reads the whole file (``needs_full_read``).

Derived values (``derive``): sensor width and its source via ``optics.sensor_width_from_exif``
(the focal-plane route uses ExifImageWidth, else the header width), crop ``36/w``,
``N_eq = N·crop``, ``pixel_ratio = max(W, H)/w``.

``python -m curate.exif FILE... --json`` prints one JSON object per line per file.
Imports exifread, Pillow (header sizes only), optics, ``curate.exifblock`` and
``curate.exiffields``; never Ray or torch.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from dataclasses import asdict

import exifread

from curate.exifblock import find_exif_block, read_exif_block
from curate.exiffields import (
    ExifFields,
    block_unsound,
    fields_from_tags,
    merge_fields,
    misses_required,
)
from optics import crop_factor, f_number_equivalent, pixel_ratio, sensor_width_from_exif

logging.getLogger("exifread").setLevel(logging.ERROR)  # it logs every odd tag as a warning

HEAD_BYTES = 131072

# Leading bytes -> format name (what Pillow / pillow-heif call it).
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def sniff_format(head: bytes) -> str | None:
    """``JPEG``, ``PNG``, ``TIFF``, ``WEBP`` or ``HEIF`` from the magic bytes, else None."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


class ExifReadError(ValueError):
    """exifread failed on the bytes (a malformed EXIF block)."""


def _process(data: bytes) -> dict:
    try:
        return exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False) or {}
    except Exception as e:  # exifread raises many types on malformed blocks
        raise ExifReadError(f"malformed EXIF block ({type(e).__name__}: {e})") from None


def parse_exif(data: bytes) -> ExifFields:
    """EXIF fields of a file's bytes (its head or the whole file)."""
    block = find_exif_block(data)
    tiff = block.tiff if block is not None else b""
    if tiff:  # the ExifTool-rule reader first: 7x faster than exifread on the same block
        problems: list[tuple[str, str]] = []
        fast = fields_from_tags(read_exif_block(tiff, problems))
        if not problems and not misses_required(fast):
            fast.block_cut = block.cut
            return fast
    error = None
    try:  # exifread on the block alone (on the whole bytes when no block was located)
        tags = _process(tiff or data)
    except ExifReadError as e:
        tags, error = {}, e
    fields = fields_from_tags(tags)
    unsound = bool(tiff) and block_unsound(tiff, tags)
    if tiff and (error is not None or unsound or misses_required(fields)):
        problems: list[tuple[str, str]] = []
        tolerant = fields_from_tags(read_exif_block(tiff, problems))
        # exifread's values from a block that ends early may be bytes it read as offsets 0
        fields = tolerant if unsound or error is not None else merge_fields(fields, tolerant)
        if error is not None and problems:
            error = ExifReadError(f"malformed EXIF block ({problems[0][1]})")
        # a TIFF file's block is the bytes read: an IFD or value past them lies past the head
        if data[:2] in (b"II", b"MM") and any(kind == "past_end" for kind, _ in problems):
            block.cut = True
    fields.block_cut = block is not None and block.cut
    if error is not None and not fields.has_exif and not fields.block_cut:
        raise error  # (a block cut by the end of a head is read again from the whole file)
    return fields


def needs_full_read(fmt: str | None, fields: ExifFields, head_len: int, size_bytes: int) -> bool:
    """The head was not the whole file, and its EXIF block runs past it (any format), or a
    HEIF/TIFF/WebP had no EXIF in it (it may lie further in)."""
    if head_len >= size_bytes:
        return False
    return fields.block_cut or (fmt in ("HEIF", "TIFF", "WEBP") and not fields.has_exif)


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size_px(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the first SOF marker, walking the segment headers only."""
    pos = 2
    n = len(data)
    while pos + 9 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _SOF_MARKERS:
            h = int.from_bytes(data[pos + 5 : pos + 7], "big")
            w = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return (w, h) if w > 0 and h > 0 else None
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan before any SOF: broken
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def header_size_px(data: bytes) -> tuple[int, int] | None:
    """Stored ``(width, height)`` from the image header in ``data`` (None when not there).

    JPEG and PNG headers are parsed directly (Pillow's ``open`` costs as much as exifread);
    other formats go through Pillow / pillow-heif.
    """
    if data[:3] == b"\xff\xd8\xff":
        size = jpeg_size_px(data)
        if size is not None:
            return size
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return (w, h) if w > 0 and h > 0 else None
    from PIL import Image

    from infra.images import register_heif

    register_heif()
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:  # a head cut before the size, or a format Pillow cannot open
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None


def derive(fields: ExifFields, width_px: int | None, height_px: int | None) -> dict:
    """Sensor width + source, crop, equivalent f-number and pixel ratio (None when unknown)."""
    ref_width = fields.exif_image_width_px or (max(width_px, height_px) if width_px else None)
    sensor = sensor_width_from_exif(
        focal_length_mm=fields.focal_length_mm,
        focal_length_35mm=fields.focal_length_35mm,
        focal_plane_x_resolution=fields.focal_plane_x_resolution,
        focal_plane_resolution_unit=fields.focal_plane_resolution_unit,
        focal_plane_ref_width_px=ref_width,
        make=fields.make,
        model=fields.model,
    )
    out = {
        "sensor_width_mm": sensor.width_mm,
        "sensor_width_source": sensor.source,
        "crop_factor": None,
        "f_number_equivalent": None,
        "pixel_ratio": None,
    }
    if sensor.resolved:
        out["crop_factor"] = crop_factor(sensor.width_mm)
        if fields.f_number is not None:
            out["f_number_equivalent"] = f_number_equivalent(fields.f_number, sensor.width_mm)
        if width_px and height_px:
            out["pixel_ratio"] = pixel_ratio(width_px, height_px, sensor.width_mm)
    return out


CLI_KEYS = (
    "path",
    "make",
    "model",
    "lens_model",
    "f_number",
    "focal_length_mm",
    "focal_length_35mm",
    "sensor_width_mm",
    "sensor_width_source",
    "f_number_equivalent",
    "orientation",
    "error",
)


def describe_file(path: str, head_bytes: int = HEAD_BYTES) -> dict:
    """The CLI's record for one local file or URI: the ``CLI_KEYS``, missing values None."""
    from curate.listing import filesystem_for

    record = dict.fromkeys(CLI_KEYS)
    record["path"] = path
    try:
        fs, p = filesystem_for(path)
        size = fs.get_file_info(p).size or 0
        with fs.open_input_file(p) as f:
            head = f.read(head_bytes)
        fmt = sniff_format(head)
        if fmt is None:
            raise ValueError("not a JPEG/PNG/TIFF/WebP/HEIF file")
        fields = parse_exif(head)
        if needs_full_read(fmt, fields, len(head), size):
            with fs.open_input_stream(p) as f:
                head = f.read()
            fields = parse_exif(head)
        if not fields.has_exif:
            raise ValueError("no EXIF block")
        size_px = header_size_px(head) or (None, None)
    except (OSError, ValueError) as e:
        record["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        return record
    derived = derive(fields, *size_px)
    for k in CLI_KEYS:
        if k in asdict(fields):
            record[k] = getattr(fields, k)
        elif k in derived:
            record[k] = derived[k]
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m curate.exif",
        description="Print the EXIF fields curate reads (pass 1) for each file.",
        epilog="example: python -m curate.exif tests/data/camera-exif/*.jpg --json",
    )
    p.add_argument("files", nargs="+", help="local files or s3:// / gs:// URIs")
    p.add_argument("--json", action="store_true", help="one JSON object per line (the default)")
    p.add_argument("--head-bytes", type=int, default=HEAD_BYTES, help="bytes read per file")
    a = p.parse_args(argv)
    failed = 0
    for f in a.files:
        record = describe_file(f, a.head_bytes)
        failed += record["error"] is not None
        print(json.dumps(record), flush=True)
    return 0 if failed < len(a.files) else 1


if __name__ == "__main__":
    sys.exit(main())
