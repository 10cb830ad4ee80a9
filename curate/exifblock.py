"""The EXIF block of a file, and a reader of it as tolerant as ExifTool.

``find_exif_block(data)`` locates the TIFF-structured EXIF block in a JPEG (``APP1 Exif``), HEIF
(the ``Exif`` item, its extents joined), WebP (``EXIF`` chunk), PNG (``eXIf`` chunk) or TIFF
file, bounded to the block: exifread, given the whole file, reads on past a block that ends
early and returns the bytes that follow as values (an f-number of 6.7e-8, a Make of control
characters), where ExifTool reports nothing.

``read_exif_block(tiff)`` reads IFD0 and the EXIF IFD the way ExifTool's
``Image::ExifTool::Exif::ProcessExif`` does (13.x source) for a block embedded in a JPEG or HEIF,
which it processes from memory, without re-reading the file:

- a TIFF header must start with ``II``/``MM`` and point at an IFD at offset >= 8;
- an IFD whose entry table runs past the end of the block is dropped whole ("Bad IFD0
  directory"), and so is one followed by 1 or 3 bytes ("Illegal IFD0 directory size"); the other
  IFDs are still read, so IFD0's Make survives a broken EXIF IFD, thumbnail IFD or next-IFD
  offset, and the EXIF IFD's values survive a broken thumbnail IFD;
- an entry with an unknown format is skipped ("Bad format"), and ends its IFD if it is the first;
  after more than 10 such warnings the rest of the IFD is skipped;
- a value that does not lie wholly inside the block ("Bad offset"), points into the TIFF header
  or overlaps its own IFD ("Suspicious offset") is dropped; every other entry is kept;
- values read as their stored format: an ASCII string ends at its first NUL; an UNDEFINED one is
  taken whole; a single UNDEFINED byte and BYTE arrays are numbers (ExifTool prints a BYTE Make
  as ``"67 97 110 111 110 0"``);
- strings are returned as read (invalid UTF-8 bytes as ``?``, as ``exiftool -j`` prints them);
  ``curate.exiffields._text`` then removes Make's and Model's trailing whitespace (their
  ``RawConv``) and the NULs (``exiftool -j`` drops them), in that order.

Only the tags curate uses are returned, under exifread's names (``Image Make``, ``EXIF FNumber``)
as :class:`Tag` values with exifread's ``values``/``printable``/``field_type``. Pure Python.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# EXIF field types -> bytes per value (129 = UTF-8 string, ExifTool reads it like ASCII)
FORMAT_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 129: 1}  # fmt: skip
ASCII, UNDEFINED, UTF8 = 2, 7, 129
INTEGER_FORMATS = {1, 3, 4, 6, 8, 9, 13}

# the tags curate reads, by id (the same table serves IFD0 and the EXIF IFD, as in ExifTool)
TAG_NAMES = {
    0x010F: "Make",
    0x0110: "Model",
    0x0112: "Orientation",
    0x0132: "DateTime",
    0x829D: "FNumber",
    0x9003: "DateTimeOriginal",
    0x9202: "ApertureValue",
    0x920A: "FocalLength",
    0xA002: "ExifImageWidth",
    0xA20E: "FocalPlaneXResolution",
    0xA210: "FocalPlaneResolutionUnit",
    0xA405: "FocalLengthIn35mmFilm",
    0xA434: "LensModel",
}
EXIF_IFD_POINTER = 0x8769
STRING_TAGS = {0x010F, 0x0110, 0xA434}  # Make, Model, LensModel
PERL_SPACE = " \t\n\r\f\v"
BAD_BYTES = {c: "?" for c in range(0xDC80, 0xDD00)}  # undecodable bytes (surrogateescape)


@dataclass
class Rational:
    """An EXIF rational; ``den = 0`` is kept (curate treats it as missing)."""

    num: int
    den: int

    @property
    def numerator(self) -> int:
        return self.num

    @property
    def denominator(self) -> int:
        return self.den

    def __float__(self) -> float:
        return self.num / self.den


@dataclass
class Tag:
    """One value read from the block, shaped like exifread's ``IfdTag`` where curate reads it."""

    values: object  # a list of numbers / Rationals, or the string
    printable: str
    field_type: int


@dataclass
class Block:
    """A TIFF-structured EXIF block and whether ``data`` ended before the block did."""

    tiff: bytes
    cut: bool = False


# ---- locating the block ------------------------------------------------------------------------


def find_exif_block(data: bytes) -> Block | None:
    """The EXIF block of a JPEG/HEIF/WebP/PNG/TIFF file's bytes (or of its head), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_block(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return Block(data)
    if data[4:8] == b"ftyp":
        return _heif_block(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _chunk_block(data, 12, b"EXIF", "<")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _chunk_block(data, 8, b"eXIf", ">")
    return None


def _jpeg_block(data: bytes) -> Block | None:
    """The first ``APP1`` segment holding ``Exif\\0`` (after up to 4 other bytes, as ExifTool
    allows), walking the marker segments up to the image data (start of scan)."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if marker == 0xE1:
            payload = data[pos + 4 : min(end, len(data))]
            at = payload.find(b"Exif\x00", 0, 10)
            if 0 <= at <= 4 and len(payload) >= at + 6:
                return Block(payload[at + 6 :], cut=end > len(data))
        pos = end
    return None


def _chunk_block(data: bytes, pos: int, kind: bytes, order: str) -> Block | None:
    """A RIFF (WebP, ``order`` "<") or PNG (">") chunk's payload; a leading ``Exif\\0\\0`` is
    skipped."""
    while pos + 8 <= len(data):
        if order == "<":  # fourcc, size (little-endian), payload, pad to even
            name, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
            step = 8 + size + (size & 1)
        else:  # size (big-endian), type, payload, CRC
            size, name = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
            step = 12 + size
        if name == kind:
            payload = data[pos + 8 : pos + 8 + size]
            if payload.startswith(b"Exif\x00\x00"):
                payload = payload[6:]
            return Block(payload, cut=pos + 8 + size > len(data))
        pos += step
    return None


def _heif_block(data: bytes) -> Block | None:
    """The first ``Exif`` item: its extents joined; the payload starts with a 4-byte offset to
    the TIFF header (after ``Exif\\0\\0``); a payload that starts with the TIFF header itself or
    with ``Exif\\0\\0`` is read too (ExifTool: "Missing Exif header [size]")."""
    from curate.isobmff import extent_span, item_payload, parse_heif

    try:
        heif = parse_heif(data)
        ids = heif.exif_items()
        if not ids:
            return None
        item = heif.items[ids[0]]
        payload = item_payload(data, heif, ids[0])
        spans = [extent_span(heif, item, o, n, len(data)) for o, n in item.extents]
    except (ValueError, KeyError):  # item boxes unreadable, or cut by the end of a head
        return Block(b"", cut=True)
    cut = any(s is not None and s[1] > len(data) for s in spans)
    if payload[:4] in (b"II*\x00", b"MM\x00*"):
        return Block(payload, cut)
    if payload.startswith(b"Exif\x00\x00"):
        return Block(payload[6:], cut)
    if len(payload) < 4:
        return Block(b"", cut) if cut else None
    start = 4 + int.from_bytes(payload[:4], "big")
    if start > len(payload):
        return Block(b"", cut) if cut else None  # ExifTool: "Invalid EXIF header"
    return Block(payload[start:], cut)


# ---- reading it ----------------------------------------------------------------------------------


def read_exif_block(tiff: bytes, problems: list | None = None) -> dict[str, Tag]:
    """IFD0 (``Image ...``) and EXIF IFD (``EXIF ...``) tags of a TIFF-structured block, read as
    ExifTool reads an embedded block (module docstring). Empty when the header is not TIFF.
    ``problems`` (when given) receives ``(kind, message)`` for what was dropped, ``kind`` one of
    ``past_end``, ``format``, ``suspect``, ``loop``, ``header``."""
    problems = [] if problems is None else problems
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        problems.append(("header" if len(tiff) >= 8 else "past_end", "no TIFF header"))
        return {}
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd0 < 8:
        problems.append(("header", f"IFD0 offset {ifd0} < 8"))
        return {}
    tags: dict[str, Tag] = {}
    _read_ifd(tiff, order, ifd0, "IFD0", tags, set(), problems)
    return tags


def _read_ifd(
    tiff: bytes, order: str, start: int, name: str, tags: dict, seen: set, problems: list
) -> None:
    n = len(tiff)
    if start in seen:
        problems.append(("loop", f"{name} at {start} was already read"))
        return
    seen.add(start)
    if start + 2 > n:
        problems.append(("past_end", f"Bad {name} directory (at {start}, block has {n})"))
        return
    count = struct.unpack_from(order + "H", tiff, start)[0]
    dir_end = start + 2 + 12 * count
    if dir_end > n:
        problems.append(("past_end", f"Bad {name} directory ({count} entries end at {dir_end})"))
        return
    if n - dir_end in (1, 3):
        problems.append(("past_end", f"Illegal {name} directory size ({count} entries)"))
        return
    prefix = "Image" if name == "IFD0" else "EXIF"
    warnings = 0
    for i in range(count):
        if warnings > 10:
            problems.append(("format", f"Too many warnings -- {name} parsing aborted"))
            return
        entry = start + 2 + 12 * i
        tag, fmt, cnt = struct.unpack_from(order + "HHI", tiff, entry)
        if fmt not in FORMAT_SIZE:
            if fmt:  # a zero-padded IFD is not warned about
                warnings += 1
                problems.append(("format", f"Bad format ({fmt}) for {name} entry {i}"))
            if i == 0:
                return  # ExifTool: "assume corrupted IFD if this is our first entry"
            continue
        size = cnt * FORMAT_SIZE[fmt]
        ptr = entry + 8
        if size > 4:
            ptr = struct.unpack_from(order + "I", tiff, entry + 8)[0]
            if size > 0x7FFFFFFF or ptr + size > n:
                warnings += 1
                problems.append(("past_end", f"Bad offset for {name} tag 0x{tag:04x}"))
                continue
            if ptr < 8 or (ptr < dir_end and ptr + size > start):
                warnings += 1
                problems.append(("suspect", f"Suspicious {name} offset for tag 0x{tag:04x}"))
                continue
        if tag == EXIF_IFD_POINTER and name == "IFD0":
            if fmt in INTEGER_FORMATS and cnt >= 1:
                offset = _numbers(tiff, order, ptr, FORMAT_SIZE[fmt], 1, fmt)[0]
                _read_ifd(tiff, order, offset, "ExifIFD", tags, seen, problems)
            else:
                problems.append(("format", f"Wrong format ({fmt}) for {name} ExifOffset"))
            continue
        tag_name = TAG_NAMES.get(tag)
        if tag_name is not None:
            tags.setdefault(f"{prefix} {tag_name}", _value(tiff, order, ptr, fmt, cnt, size, tag))


def _numbers(tiff: bytes, order: str, ptr: int, width: int, cnt: int, fmt: int) -> list:
    code = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h", (4, False): "I",
            (4, True): "i"}[(width, fmt in (6, 8, 9))]  # fmt: skip
    return list(struct.unpack_from(f"{order}{cnt}{code}", tiff, ptr))


def _value(tiff: bytes, order: str, ptr: int, fmt: int, cnt: int, size: int, tag: int):
    raw = tiff[ptr : ptr + size]
    if fmt in (ASCII, UTF8) or (fmt == UNDEFINED and cnt != 1):
        if fmt != UNDEFINED:
            raw = raw.split(b"\x00", 1)[0]
        text = _exiftool_text(raw, tag)
        return Tag(text, text, ASCII)
    if fmt in (5, 10):
        signed = fmt == 10
        parts = struct.unpack_from(f"{order}{2 * cnt}{'i' if signed else 'I'}", tiff, ptr)
        values = [Rational(parts[k], parts[k + 1]) for k in range(0, len(parts), 2)]
        printable = " ".join(f"{r.num}/{r.den}" for r in values)
    elif fmt in (11, 12):
        values = list(struct.unpack_from(f"{order}{cnt}{'f' if fmt == 11 else 'd'}", tiff, ptr))
        printable = " ".join(repr(v) for v in values)
    else:  # integers; a single UNDEFINED byte is an int8u
        values = _numbers(tiff, order, ptr, 1 if fmt == UNDEFINED else FORMAT_SIZE[fmt], cnt, fmt)
        printable = " ".join(str(v) for v in values)
        if tag in STRING_TAGS:  # a string tag stored as numbers: ExifTool prints the numbers
            text = _exiftool_text(printable.encode(), tag)
            return Tag(text, text, ASCII)
    return Tag(values, printable, fmt)


def _exiftool_text(raw: bytes, tag: int) -> str:
    """A string value's bytes as text, invalid UTF-8 bytes as ``?`` (ExifTool's FixUTF8)."""
    return raw.decode("utf-8", "surrogateescape").translate(BAD_BYTES)
