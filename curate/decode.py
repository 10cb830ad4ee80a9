"""Pass 2 decoding: full bytes -> oriented RGB at analysis size, with a real decode check.

- JPEG: libjpeg-turbo through ``simplejpeg`` with DCT-domain downscaling (what Pillow's
  ``draft()`` does: a 24 MP file decodes ~9x faster) and ``strict=True``, which turns libjpeg's
  "corrupt data / premature end" warnings into errors. Pillow hides those warnings and returns a
  grey-filled image for a truncated or corrupt JPEG, which is why it is not used for JPEGs.
  Every entropy-coded block is still walked, so a truncated file cannot pass.
- PNG, TIFF, WebP, HEIF (pillow-heif): Pillow, fully loaded. A HEIF is first checked
  structurally: every ``iloc`` extent of the primary image, grid tiles included, must lie inside
  the file (``curate.isobmff``), since libheif fills missing tiles with green instead of failing.
- Decompression bombs are judged from the header, before any pixel is decoded, by the decoded
  size (``DecodeLimits``): the pixel count, the bytes of the bitmap against a budget, and, for a
  bitmap above a floor, its expansion over the file size (no real photograph expands as much as a
  flat or 1-bit image that compresses to a few KB).
- EXIF orientation (1..8) is applied, so width/height are the displayed size.

``width_px``/``height_px`` are the full-resolution displayed size; ``rgb`` is uint8 HxWx3 with
its long edge at most ``analysis_long_edge_px``. Imports numpy, Pillow, simplejpeg and
``curate.isobmff``; never Ray or torch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageOps

from infra.images import (  # noqa: F401  (DecodeLimits, MB, bitmap_bytes: curate's names too)
    MB,
    MODE_BYTES,
    DecodeLimits,
    bitmap_bytes,
    bomb_problem,
    register_heif,
    to_rgb8,
)


class DecodeError(ValueError):
    """``reason`` is ``decode_failed``, ``decompression_bomb`` or ``unsupported_format``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Decoded:
    rgb: np.ndarray  # uint8 (H, W, 3), oriented, long edge <= analysis size
    width_px: int  # full-resolution displayed width
    height_px: int


def orient_array(a: np.ndarray, orientation: int | None) -> np.ndarray:
    """Apply EXIF orientation 1..8 to an (H, W, C) array (as ``ImageOps.exif_transpose``)."""
    o = orientation or 1
    if o == 2:
        return a[:, ::-1]
    if o == 3:
        return a[::-1, ::-1]
    if o == 4:
        return a[::-1]
    if o == 5:
        return a.transpose(1, 0, 2)
    if o == 6:
        return np.rot90(a, k=-1)
    if o == 7:
        return _transverse(a)
    if o == 8:
        return np.rot90(a, k=1)
    return a


def _transverse(a: np.ndarray) -> np.ndarray:
    return a[::-1, ::-1].transpose(1, 0, 2)


def _resize_long_edge(a: np.ndarray, long_edge_px: int) -> np.ndarray:
    h, w = a.shape[:2]
    if max(h, w) <= long_edge_px:
        return np.ascontiguousarray(a)
    s = long_edge_px / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize(size, Image.BILINEAR))


def check_bomb(
    width: int, height: int, bytes_per_pixel: int, file_bytes: int, limits: DecodeLimits
) -> None:
    """Raise ``DecodeError('decompression_bomb', ...)`` when the header describes a bitmap the
    limits refuse (:func:`infra.images.bomb_problem`, the rule every stage shares); a
    one-line detail gives the numbers."""
    problem = bomb_problem(width, height, bytes_per_pixel, file_bytes, limits)
    if problem:
        raise DecodeError("decompression_bomb", problem)


def decode_jpeg(data: bytes, orientation: int | None, limits: DecodeLimits, long_edge_px: int):
    import simplejpeg

    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
        raise DecodeError("decode_failed", f"JPEG header unreadable ({e})") from None
    components = {"Gray": 1, "CMYK": 4, "YCCK": 4}.get(colorspace, 3)
    check_bomb(width, height, components, len(data), limits)
    # Smallest DCT scale (1/8..1) whose result still covers the analysis size.
    short_target = max(1, round(long_edge_px * min(width, height) / max(width, height)))
    min_w, min_h = (long_edge_px, short_target) if width >= height else (short_target, long_edge_px)
    try:
        rgb = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=min_w, min_height=min_h, strict=True
        )
    except ValueError as e:
        if "corrupt" in str(e).lower() or "premature" in str(e).lower():
            raise DecodeError("decode_failed", f"corrupt or truncated JPEG ({e})") from None
        return None  # e.g. CMYK: let Pillow try
    rgb = orient_array(rgb, orientation)
    w, h = (height, width) if (orientation or 1) >= 5 else (width, height)
    return Decoded(_resize_long_edge(rgb, long_edge_px), w, h)


def check_heif_complete(data: bytes) -> None:
    """``decode_failed`` unless every byte of the primary image (grid tiles included) is in
    ``data``. libheif decodes a truncated HEIF without an error, filling the missing tiles with
    green, and pillow-heif exposes no strict mode, so the check is structural: each ``iloc``
    extent of the primary item and of the items it is derived from (``dimg``) must end inside the
    file."""
    from curate.isobmff import first_missing_extent, parse_heif

    try:
        problem = first_missing_extent(data, parse_heif(data))
    except ValueError as e:
        problem = f"unreadable item structure: {e}"
    if problem:
        raise DecodeError("decode_failed", f"truncated or corrupt HEIF: {problem}")


def decode_pillow(data: bytes, limits: DecodeLimits, long_edge_px: int) -> Decoded:
    register_heif()
    try:
        im = Image.open(io.BytesIO(data))
    except Exception as e:
        raise DecodeError("unsupported_format", f"not an image Pillow can open ({e})") from None
    check_bomb(im.width, im.height, MODE_BYTES.get(im.mode, 4), len(data), limits)
    if im.format == "HEIF":
        check_heif_complete(data)
    try:
        if im.format == "JPEG":
            im.draft("RGB", (long_edge_px, long_edge_px))
        im.load()
        im = ImageOps.exif_transpose(im)
        w, h = im.size
        im = to_rgb8(im)  # 16-bit grey scaled, not clipped to white
        im.thumbnail((long_edge_px, long_edge_px), Image.BILINEAR)
    except Exception as e:  # truncated, corrupt, unsupported codec
        raise DecodeError("decode_failed", f"{type(e).__name__}: {e}") from None
    return Decoded(np.asarray(im), int(w), int(h))


def decode_image(
    data: bytes,
    fmt: str | None,
    orientation: int | None = None,
    *,
    limits: DecodeLimits | None = None,
    max_pixels: int | None = None,
    long_edge_px: int = 512,
) -> Decoded:
    """Decode ``data`` (a whole file) or raise ``DecodeError`` with a reason and a detail.
    ``max_pixels`` overrides that one limit of ``limits`` (default ``DecodeLimits()``)."""
    limits = limits or DecodeLimits()
    if max_pixels is not None:
        limits = replace(limits, max_pixels=max_pixels)
    if fmt == "JPEG":
        out = decode_jpeg(data, orientation, limits, long_edge_px)
        if out is not None:
            return out
    return decode_pillow(data, limits, long_edge_px)


def clip_input(rgb: np.ndarray, size_px: int = 224) -> np.ndarray:
    """CLIP's own preprocessing geometry: resize the short side to ``size_px`` (bicubic), then
    centre-crop ``size_px`` square. uint8 (size, size, 3); normalisation happens in the scorer."""
    h, w = rgb.shape[:2]
    s = size_px / min(h, w)
    nw, nh = max(size_px, round(w * s)), max(size_px, round(h * s))
    im = Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size_px) // 2, (nh - size_px) // 2
    return np.asarray(im.crop((left, top, left + size_px, top + size_px)))
