"""EXIF blocks that end early or hold odd values, read as ExifTool reads them (issue 14, §3).

Every case is built here from bytes: a TIFF-structured EXIF block (``tiff_block``) embedded in a
JPEG ``APP1`` segment or a HEIF ``Exif`` item (``heif_with_exif``: the image of a pillow-heif
HEIF, the items laid out again so that the Exif item can be cut, split or moved). The expected
values follow ExifTool's ``ProcessExif`` for an embedded block (see ``curate/exifblock.py``):
what lies inside the block is read, what does not is dropped, never read from the bytes after it.
"""

import io
import struct

import numpy as np
import pytest

from curate import exif as exif_mod
from curate.exif import needs_full_read, parse_exif
from curate.exifblock import find_exif_block, read_exif_block
from curate.isobmff import parse_heif

# ---- building blocks -----------------------------------------------------------------------------

MAKE, MODEL, ORIENTATION, EXIF_IFD = 0x010F, 0x0110, 0x0112, 0x8769
FNUMBER, FOCAL, FOCAL35, LENS = 0x829D, 0x920A, 0xA405, 0xA434


def ascii_entry(tag, text, kind=2):
    raw = text if isinstance(text, bytes) else text.encode()
    return (tag, kind, len(raw), raw)


def rational(tag, num, den):
    return (tag, 5, 1, struct.pack("<II", num, den))


def short(tag, value):
    return (tag, 3, 1, struct.pack("<H", value))


def tiff_block(ifd0, exif=None, ifd1=None, next_ifd=None):
    """A little-endian TIFF block: IFD0 (+ ExifOffset when ``exif``), the EXIF IFD, IFD1, then
    the values that do not fit in an entry. Entries are ``(tag, type, count, value bytes)``."""
    ifds = [list(ifd0) + ([(EXIF_IFD, 4, 1, None)] if exif is not None else [])]
    ifds += [list(x) for x in (exif, ifd1) if x is not None]
    starts, pos = [], 8
    for entries in ifds:
        starts.append(pos)
        pos += 2 + 12 * len(entries) + 4
    values, tables = b"", []
    for k, entries in enumerate(ifds):
        table = struct.pack("<H", len(entries))
        for tag, kind, count, raw in sorted(entries, key=lambda e: e[0]):
            raw = struct.pack("<I", starts[1]) if raw is None else raw
            if len(raw) <= 4:
                table += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\0")
            else:
                table += struct.pack("<HHII", tag, kind, count, pos + len(values))
                values += raw + b"\0" * (len(raw) % 2)
        nxt = next_ifd if (k == 0 and next_ifd is not None) else 0
        if k == 0 and ifd1 is not None:
            nxt = starts[-1]
        tables.append(table + struct.pack("<I", nxt))
    return b"II*\0\x08\0\0\0" + b"".join(tables) + values


def standard_block(make="Canon", make_kind=2, **extra):
    make_raw = make.encode() + b"\0" if isinstance(make, str) else make
    return tiff_block(
        [ascii_entry(MAKE, make_raw, make_kind), ascii_entry(MODEL, "EOS 5D\0"),
         short(ORIENTATION, 6)],
        exif=[rational(FNUMBER, 18, 10), rational(FOCAL, 50, 1), short(FOCAL35, 50),
              ascii_entry(LENS, "EF50mm f/1.8 \0")],
        **extra,
    )  # fmt: skip


INTACT = {"make": "Canon", "model": "EOS 5D", "orientation": 6, "f_number": 1.8,
          "focal_length_mm": 50.0, "focal_length_35mm": 50.0,
          "lens_model": "EF50mm f/1.8 "}  # fmt: skip


def values(fields):
    return {k: getattr(fields, k) for k in INTACT}


def jpeg_with(block: bytes, app1_extra: bytes = b"") -> bytes:
    """A small JPEG whose first segment is ``APP1 Exif`` holding ``block``; the image data that
    follows starts with bytes an unbounded reader would take for values."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 30)).save(buf, "JPEG")
    payload = b"Exif\0\0" + block + app1_extra
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    comment = b"\xff\xfe" + struct.pack(">H", 66) + bytes(range(1, 65))  # nonzero garbage
    data = buf.getvalue()
    return data[:2] + segment + comment + data[2:]


# ---- HEIF containers -----------------------------------------------------------------------------


def _box(kind: bytes, payload: bytes, full: int | None = None) -> bytes:
    head = b"" if full is None else struct.pack(">I", full)
    return struct.pack(">I", 8 + len(head) + len(payload)) + kind + head + payload


def _children(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size = struct.unpack_from(">I", data, pos)[0]
        yield data[pos + 4 : pos + 8], data[pos : pos + size]
        pos += size


@pytest.fixture(scope="module")
def heif_image():
    """The boxes and image bytes of a tiny pillow-heif HEIF (no EXIF): (ftyp, meta children
    other than iinf/iloc, the image item's bytes)."""
    import pillow_heif

    rgb = np.full((64, 64, 3), 100, np.uint8)
    buf = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB", size=(64, 64), data=rgb.tobytes()).save(buf, quality=50)
    data = buf.getvalue()
    heif = parse_heif(data)
    (offset, length), = heif.items[heif.primary_id].extents  # fmt: skip
    boxes = dict(_children(data, 0, len(data)))
    meta = boxes[b"meta"]
    kept = [
        raw
        for kind, raw in _children(meta, 12, len(meta))
        if kind not in (b"iinf", b"iloc", b"iref")
    ]
    return boxes[b"ftyp"], kept, heif.primary_id, data[offset : offset + length]  # fmt: skip


def heif_with_exif(heif_image, payload: bytes, *, split=None, declared=None, idat=False,
                   brand=b"heic", garbage=b"\xaa" * 40):  # fmt: skip
    """A HEIF whose ``Exif`` item (id 99) holds ``payload`` (the item bytes: 4-byte offset,
    ``Exif\\0\\0``, TIFF block). ``split``: stored in two extents cut there, with ``garbage``
    between; ``declared``: the length iloc gives the (single) extent, which may be less than
    ``payload``: the bytes after it stay in the file; ``idat``: stored in the meta box's
    ``idat`` (construction method 1). Item data is followed by ``garbage``."""
    ftyp, kept, primary, image = heif_image
    ftyp = ftyp[:8] + brand + ftyp[12:]
    infe = [_box(b"infe", struct.pack(">HH", primary, 0) + b"hvc1" + b"\0", 2 << 24),
            _box(b"infe", struct.pack(">HH", 99, 0) + b"Exif" + b"\0", 2 << 24)]  # fmt: skip
    iinf = _box(b"iinf", struct.pack(">H", 2) + b"".join(infe), 0)
    iref = _box(b"iref", _box(b"cdsc", struct.pack(">HHH", 99, 1, primary)), 0)
    exif_parts = [payload[:split], payload[split:]] if split else [payload]

    def iloc(base: int) -> bytes:  # version 1, 4-byte offsets/lengths, no base offsets
        entries = struct.pack(">HHHH", primary, 0, 0, 1) + struct.pack(">II", base, len(image))
        if idat:
            entries += struct.pack(">HHHH", 99, 1, 0, 1) + struct.pack(">II", 0, len(payload))
        else:
            pos, ext = base + len(image) + len(garbage), b""
            for part in exif_parts:
                length = declared if declared is not None else len(part)
                ext += struct.pack(">II", pos, length)
                pos += len(part) + len(garbage)
            entries += struct.pack(">HHHH", 99, 0, 0, len(exif_parts)) + ext
        return _box(b"iloc", struct.pack(">BBH", 0x44, 0x00, 2) + entries, 1 << 24)

    extra = _box(b"idat", payload) if idat else b""
    body = b"".join(kept) + iinf + iref + extra
    meta_len = 12 + len(body) + len(iloc(0))
    base = len(ftyp) + meta_len + 8  # the image starts right after mdat's header
    meta = _box(b"meta", body + iloc(base), 0)
    assert len(meta) == meta_len
    mdat = image + garbage
    if not idat:
        mdat += b"".join(part + garbage for part in exif_parts)
    return ftyp + meta + _box(b"mdat", mdat)


def item(block: bytes) -> bytes:
    return b"\0\0\0\x06Exif\0\0" + block


# ---- strings as ExifTool prints them -------------------------------------------------------------


def test_intact_block_in_jpeg_and_heif(heif_image):
    block = standard_block()
    assert values(parse_exif(jpeg_with(block))) == INTACT
    assert values(parse_exif(heif_with_exif(heif_image, item(block)))) == INTACT


def test_make_loses_trailing_nuls_and_spaces_but_not_leading_ones():
    assert parse_exif(jpeg_with(standard_block(b"Canon  \0\0\0"))).make == "Canon"
    assert parse_exif(jpeg_with(standard_block(b"Canon\0junk\0"))).make == "Canon"
    assert parse_exif(jpeg_with(standard_block(b"  Canon\0"))).make == "  Canon"
    # LensModel has no RawConv in ExifTool: its trailing space stays
    assert parse_exif(jpeg_with(standard_block())).lens_model == "EF50mm f/1.8 "


def test_make_with_a_non_ascii_type():
    # exifread prints these as a Python list ("[67, 97, 110, 111, 110, 0]")
    undefined = parse_exif(jpeg_with(standard_block(b"Canon\0", make_kind=7)))
    assert undefined.make == "Canon" and undefined.f_number == 1.8
    assert parse_exif(jpeg_with(standard_block(b"Canon  \0", make_kind=7))).make == "Canon  "
    # ExifTool reads a BYTE Make as the numbers it holds, and prints them
    assert parse_exif(jpeg_with(standard_block(b"Canon\0", make_kind=1))).make == (
        "67 97 110 111 110 0"
    )


def test_invalid_utf8_bytes_print_as_question_marks():
    assert parse_exif(jpeg_with(standard_block(b"Citro\xebn\0"))).make == "Citro?n"


# ---- blocks that end early -----------------------------------------------------------------------


def cut_jpeg(block: bytes, end: int) -> bytes:
    return jpeg_with(block[:end])


def parsed_or_nothing(data: bytes) -> dict:
    try:
        return values(parse_exif(data))
    except exif_mod.ExifReadError as e:  # no tag at all: rejected as no_exif
        assert "\n" not in str(e) and str(e).startswith("malformed EXIF block (")
        return dict.fromkeys(INTACT)


def test_every_cut_of_the_block_gives_intact_values_or_none(heif_image):
    """Cut anywhere, a field is what the intact block says or missing, never the bytes after
    the block (exifread alone read an f-number of 6.7e-8 and a Make of control characters)."""
    block = standard_block()
    for end in range(0, len(block) + 1):
        for data in (
            cut_jpeg(block, end),
            heif_with_exif(heif_image, item(block), declared=10 + end),
        ):
            got = parsed_or_nothing(data)
            wrong = {k: v for k, v in got.items() if v is not None and v != INTACT[k]}
            assert not wrong, (end, wrong)  # fmt: skip
    assert parsed_or_nothing(cut_jpeg(block, len(block) - 4)) == {**INTACT, "lens_model": None}


def test_exif_ifd_table_past_the_end_keeps_ifd0():
    block = tiff_block(  # IFD0's values fit in their entries, so they lie before the cut
        [ascii_entry(MAKE, "LG\0"), ascii_entry(MODEL, "G7\0"), short(ORIENTATION, 3)],
        exif=[rational(FNUMBER, 18, 10), rational(FOCAL, 50, 1), short(FOCAL35, 50)],
    )
    exif_start = 8 + 2 + 12 * 4 + 4
    got = parse_exif(cut_jpeg(block, exif_start + 2 + 12 * 2))  # two of its three entries
    assert (got.make, got.model, got.orientation) == ("LG", "G7", 3)
    assert got.f_number is None and got.focal_length_35mm is None  # "Bad ExifIFD directory"


def test_values_past_the_end_are_dropped_one_by_one():
    block = standard_block()
    lens_at = block.index(b"EF50mm")
    got = parse_exif(cut_jpeg(block, lens_at + 4))  # only LensModel's value is cut
    assert values(got) == {**INTACT, "lens_model": None}


def test_a_make_whose_count_runs_past_the_end_is_dropped():
    # ExifTool: "Bad offset for IFD0 Make" (it does not read part of a value)
    block = standard_block()
    i = block.index(struct.pack("<HHI", MAKE, 2, 6))
    long_make = block[: i + 4] + struct.pack("<I", 500) + block[i + 8 :]
    got = parse_exif(jpeg_with(long_make))
    assert got.make is None and got.model == "EOS 5D" and got.f_number == 1.8


def test_broken_ifd1_and_next_ifd_offset_keep_everything():
    block = bytearray(standard_block())
    struct.pack_into("<I", block, 8 + 2 + 12 * 4, len(block))  # IFD1 at the end of the block
    block += struct.pack("<H", 5) + bytes(12 * 2)  # ... whose 5-entry table is cut after 2
    assert values(parse_exif(jpeg_with(bytes(block)))) == INTACT
    assert values(parse_exif(jpeg_with(standard_block(next_ifd=10**6)))) == INTACT


def test_make_survives_a_broken_exif_ifd():
    block = standard_block()
    i = block.index(struct.pack("<HHI", EXIF_IFD, 4, 1))
    pointer_out = block[: i + 8] + struct.pack("<I", 10**6) + block[i + 12 :]
    got = parse_exif(jpeg_with(pointer_out))
    assert (got.make, got.model, got.f_number) == ("Canon", "EOS 5D", None)
    exif_start = struct.unpack_from("<I", block, i + 8)[0]
    bad_first = bytearray(block)
    struct.pack_into("<H", bad_first, exif_start + 2 + 2, 99)  # first entry: format 99
    got = parse_exif(jpeg_with(bytes(bad_first)))
    assert (got.make, got.f_number) == ("Canon", None)  # ExifTool drops that IFD


def test_bad_format_and_suspicious_offsets_drop_only_their_entry():
    block = bytearray(standard_block())
    pointer = block.index(struct.pack("<HHI", EXIF_IFD, 4, 1))
    exif_start = struct.unpack_from("<I", block, pointer + 8)[0]
    struct.pack_into("<H", block, exif_start + 2 + 12 * 3 + 2, 77)  # 4th entry (LensModel)
    i = block.index(struct.pack("<HHI", FOCAL, 5, 1))
    struct.pack_into("<I", block, i + 8, 2)  # FocalLength's value inside the TIFF header
    got = parse_exif(jpeg_with(bytes(block)))
    assert values(got) == {**INTACT, "lens_model": None, "focal_length_mm": None}


def test_the_tolerant_reader_reports_what_it_dropped():
    problems = []
    tags = read_exif_block(standard_block()[:60], problems)
    assert "Image Make" not in tags and any("Bad offset for IFD0" in m for _, m in problems)


# ---- HEIF containers exifread could not read -----------------------------------------------------


def test_heif_written_by_pillow_heif_with_exif(heif_image):
    """libheif writes iloc with a base offset, which exifread 3.5 ignores: it called the EXIF
    block malformed ("AssertionError") and the photo was rejected as no_exif."""
    import pillow_heif

    rgb = np.full((64, 64, 3), 100, np.uint8)
    buf = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB", size=(64, 64), data=rgb.tobytes()).save(
        buf, quality=50, exif=b"Exif\0\0" + standard_block()
    )
    assert values(parse_exif(buf.getvalue())) == INTACT


@pytest.mark.parametrize(
    "layout",
    [{"split": 40}, {"split": 7}, {"idat": True}, {"brand": b"heix"}, {"brand": b"mif1"}],
)
def test_heif_exif_item_layouts(heif_image, layout):
    data = heif_with_exif(heif_image, item(standard_block()), **layout)
    assert values(parse_exif(data)) == INTACT


@pytest.mark.parametrize("prefix", [b"Exif\0\0", b""])
def test_heif_exif_item_without_its_offset_field(heif_image, prefix):
    # ExifTool: "Missing Exif header size" / "Missing Exif header", and reads the block
    data = heif_with_exif(heif_image, prefix + standard_block())
    assert values(parse_exif(data)) == INTACT


def test_heif_exif_item_that_ends_early_keeps_what_it_holds(heif_image):
    block = standard_block()
    exif_start = 8 + 2 + 12 * 4 + 4
    data = heif_with_exif(heif_image, item(block), declared=10 + exif_start + 20)
    got = parse_exif(data)  # the bytes after the item are the rest of the block: not read
    assert (got.make, got.orientation, got.f_number) == (None, 6, None)


# ---- pass 1: heads, and when the tolerant reader runs --------------------------------------------


def test_a_block_cut_by_the_head_makes_pass_1_read_the_whole_file(heif_image):
    block = standard_block()
    jpeg = jpeg_with(block)
    head = jpeg[:40]
    got = parse_exif(head)
    assert got.block_cut and needs_full_read("JPEG", got, len(head), len(jpeg))
    assert not parse_exif(jpeg).block_cut
    heif = heif_with_exif(heif_image, item(block), garbage=b"\xaa" * 5000)
    head = heif[: len(heif) - 5000 - 50]  # the head ends inside the Exif item
    got = parse_exif(head)
    assert got.block_cut and needs_full_read("HEIF", got, len(head), len(heif))
    assert values(parse_exif(heif)) == INTACT


def test_a_head_cut_inside_the_heif_item_boxes_is_read_again(camera_exif_dir):
    data = (camera_exif_dir / "heic__IMG_5195.HEIC").read_bytes()
    for end in (200, 1500, 2500):  # inside 'meta' (it ends at byte 3015)
        got = parse_exif(data[:end])
        assert got.block_cut and needs_full_read("HEIF", got, end, len(data))
    assert parse_exif(data).make == "Apple"


def test_exifread_runs_only_when_the_exiftool_rule_reader_finds_a_problem(
    monkeypatch, camera_exif_dir
):
    calls = []
    real = exif_mod._process
    monkeypatch.setattr(exif_mod, "_process", lambda *a: calls.append(1) or real(*a))
    for name in ("Canon_40D.jpg", "hdr__iphone_hdr_NO.jpg", "heic__IMG_5195.HEIC"):
        parse_exif((camera_exif_dir / name).read_bytes()[:131072])
    assert calls == []  # intact camera files: the fast reader alone
    block = standard_block()
    parse_exif(cut_jpeg(block, len(block) - 4))  # a block that ends early: exifread too
    assert calls == [1]


def test_block_location():
    block = standard_block()
    found = find_exif_block(jpeg_with(block))
    assert found.tiff == block and not found.cut
    assert find_exif_block(b"\xff\xd8\xff\xdb" + b"\0" * 100) is None
