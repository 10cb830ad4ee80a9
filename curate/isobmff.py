"""The item structure of a HEIF/AVIF file (ISO/IEC 14496-12 boxes, ISO/IEC 23008-12 items).

Just enough of the ``meta`` box to answer two questions without decoding anything:

- where each item's bytes lie (``iloc`` extents, in the file or in ``idat``), so decode.py can
  check that every byte of the primary image, grid tiles included, is inside the file (libheif
  fills missing tiles with green instead of failing);
- which item is the ``Exif`` block and what its bytes are, so exif.py can read a block that
  exifread refuses (several extents, ``idat`` storage, other brands, an ``Exif\\0\\0`` header
  without its size prefix).

``parse_heif(data)`` raises ``ValueError`` with a one-line reason when the boxes it needs are
missing, cut short or inconsistent. Pure Python; imports nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    item_id: int
    item_type: str = ""  # 'hvc1', 'grid', 'Exif', ... ('' for infe versions 0/1)
    construction_method: int = 0  # 0: file offsets, 1: inside idat, 2: another item
    data_reference_index: int = 0  # 0: this file
    extents: list[tuple[int, int]] = field(default_factory=list)  # (offset, length); 0 = to end


@dataclass
class Heif:
    primary_id: int | None
    items: dict[int, Item]
    refs: list[tuple[str, int, list[int]]]  # (type, from item, to items): 'dimg', 'cdsc', ...
    idat: tuple[int, int] | None  # (file offset of the payload, its length)

    def derived_from(self, item_id: int) -> list[int]:
        """Items that ``item_id`` is built from (``dimg``: grid tiles, overlay and iden inputs)."""
        return [t for kind, f, to in self.refs if kind == "dimg" and f == item_id for t in to]

    def image_items(self) -> list[int]:
        """The primary item and, transitively, every item it is derived from, in that order."""
        if self.primary_id is None:
            return []
        seen, order = set(), []
        stack = [self.primary_id]
        while stack:
            i = stack.pop(0)
            if i in seen:
                continue
            seen.add(i)
            order.append(i)
            stack.extend(self.derived_from(i))
        return order

    def exif_items(self) -> list[int]:
        return [i for i, it in sorted(self.items.items()) if it.item_type == "Exif"]


def _u(data: bytes, pos: int, n: int, end: int) -> int:
    if n == 0:
        return 0
    if pos + n > end:
        raise ValueError(f"box ends early (needs byte {pos + n}, has {end})")
    return int.from_bytes(data[pos : pos + n], "big")


def _boxes(data: bytes, start: int, end: int):
    """``(type, payload start, box end)`` of each box in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size = _u(data, pos, 4, end)
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        header = 8
        if size == 1:
            size, header = _u(data, pos + 8, 8, end), 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise ValueError(f"'{kind}' box at byte {pos} has an impossible size {size}")
        yield kind, pos + header, pos + size
        pos += size


def parse_heif(data: bytes) -> Heif:
    """The items of a HEIF file from its ``meta`` box (``ValueError`` when it cannot be read)."""
    meta = None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == "meta":
            meta = (start, end)
            break
    if meta is None:
        raise ValueError("no 'meta' box")
    m_start, m_end = meta
    if m_end > len(data):
        raise ValueError(f"'meta' box ends at byte {m_end}, file has {len(data)}")
    primary, items, refs, idat = None, {}, [], None
    for kind, start, end in _boxes(data, m_start + 4, m_end):  # meta is a FullBox
        if kind == "pitm":
            version = data[start]
            primary = _u(data, start + 4, 2 if version == 0 else 4, end)
        elif kind == "iinf":
            _parse_iinf(data, start, end, items)
        elif kind == "iloc":
            _parse_iloc(data, start, end, items)
        elif kind == "iref":
            version = data[start]
            width = 2 if version == 0 else 4
            for rkind, rs, re_ in _boxes(data, start + 4, end):
                src = _u(data, rs, width, re_)
                n = _u(data, rs + width, 2, re_)
                to = [_u(data, rs + width + 2 + k * width, width, re_) for k in range(n)]
                refs.append((rkind, src, to))
        elif kind == "idat":
            idat = (start, end - start)
    return Heif(primary, items, refs, idat)


def _parse_iinf(data: bytes, start: int, end: int, items: dict) -> None:
    version = data[start]
    pos = start + 4 + (2 if version == 0 else 4)
    for kind, s, e in _boxes(data, pos, end):
        if kind != "infe":
            continue
        v = data[s]
        if v < 2:
            continue  # versions 0/1 carry no item type
        item_id = _u(data, s + 4, 2 if v == 2 else 4, e)
        p = s + 4 + (2 if v == 2 else 4) + 2  # + item_protection_index
        item = items.setdefault(item_id, Item(item_id))
        item.item_type = data[p : p + 4].decode("latin-1")


def _parse_iloc(data: bytes, start: int, end: int, items: dict) -> None:
    version = data[start]
    if version > 2:
        raise ValueError(f"'iloc' version {version} is unknown")
    sizes = _u(data, start + 4, 2, end)
    off_size, len_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, sizes & 0xF
    if version == 0:
        index_size = 0
    for s in (off_size, len_size, base_size, index_size):
        if s not in (0, 4, 8):
            raise ValueError(f"'iloc' field size {s} is not 0, 4 or 8")
    pos = start + 6
    id_size = 4 if version == 2 else 2
    count = _u(data, pos, id_size, end)
    pos += id_size
    for _ in range(count):
        item_id = _u(data, pos, id_size, end)
        pos += id_size
        method = 0
        if version in (1, 2):
            method = _u(data, pos, 2, end) & 0xF
            pos += 2
        ref_index = _u(data, pos, 2, end)
        base = _u(data, pos + 2, base_size, end)
        pos += 2 + base_size
        n = _u(data, pos, 2, end)
        pos += 2
        extents = []
        for _ in range(n):
            pos += index_size
            offset = _u(data, pos, off_size, end)
            length = _u(data, pos + off_size, len_size, end)
            pos += off_size + len_size
            extents.append((base + offset, length))
        item = items.setdefault(item_id, Item(item_id))
        item.construction_method, item.data_reference_index = method, ref_index
        item.extents = extents


def extent_span(heif: Heif, item: Item, offset: int, length: int, file_len: int):
    """``(start, end)`` in the file of one extent (``None`` for data in another item/file)."""
    if item.data_reference_index != 0 or item.construction_method == 2:
        return None
    if item.construction_method == 1:
        if heif.idat is None:
            raise ValueError(f"item {item.item_id} is stored in 'idat', which is missing")
        start = heif.idat[0] + offset
        end = start + (length or heif.idat[1] - offset)
        if end > heif.idat[0] + heif.idat[1]:
            raise ValueError(f"item {item.item_id} runs past the end of 'idat'")
        return start, end
    return offset, offset + length if length else file_len


def first_missing_extent(data: bytes, heif: Heif) -> str | None:
    """Why the primary image's bytes are not all in ``data`` (None when they are)."""
    if heif.primary_id is None:
        return "no primary item ('pitm')"
    for item_id in heif.image_items():
        item = heif.items.get(item_id)
        if item is None or not item.extents:
            return f"item {item_id} has no location ('iloc')"
        for offset, length in item.extents:
            span = extent_span(heif, item, offset, length, len(data))
            if span is not None and (span[0] > len(data) or span[1] > len(data)):
                role = "primary image" if item_id == heif.primary_id else "tile/input"
                return (
                    f"{role} item {item_id} ({item.item_type or '?'}) needs bytes "
                    f"{span[0]}..{span[1]}, file has {len(data)}"
                )
    return None


def item_payload(data: bytes, heif: Heif, item_id: int) -> bytes:
    """An item's bytes, its extents joined (cut short where the file ends)."""
    item = heif.items[item_id]
    parts = []
    for offset, length in item.extents:
        span = extent_span(heif, item, offset, length, len(data))
        if span is None:
            raise ValueError(f"item {item_id} lies in another file or item")
        parts.append(data[span[0] : span[1]])
    return b"".join(parts)
