"""Pass 2 decoding: full bytes -> oriented RGB at analysis size, with a real decode check.

- JPEG: libjpeg-turbo through ``simplejpeg`` with DCT-domain downscaling (what Pillow's
  ``draft()`` does: a 24 MP file decodes ~9x faster) and ``strict=True``, which turns libjpeg's
  "corrupt data / premature end" warnings into errors. Pillow hides those warnings and returns a
  grey-filled image for a truncated or corrupt JPEG, which is why it is not used for JPEGs.
  Every entropy-coded block is still walked, so a truncated file cannot pass.
- PNG, TIFF, WebP, HEIF (pillow-heif): Pillow, fully loaded.
- The decompression-bomb limit is checked on the header size before any pixel is decoded.
- EXIF orientation (1..8) is applied, so width/height are the displayed size.

``width_px``/``height_px`` are the full-resolution displayed size; ``rgb`` is uint8 HxWx3 with
its long edge at most ``analysis_long_edge_px``. Imports numpy, Pillow, simplejpeg; never Ray
or torch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = None  # the limit is ours (max_pixels), checked before decoding


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


def _orient_array(a: np.ndarray, orientation: int | None) -> np.ndarray:
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


def _check_bomb(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise DecodeError(
            "decompression_bomb",
            f"{width}x{height} = {width * height / 1e6:.0f} MP > limit {max_pixels / 1e6:.0f} MP",
        )


def decode_jpeg(data: bytes, orientation: int | None, max_pixels: int, long_edge_px: int):
    import simplejpeg

    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
        raise DecodeError("decode_failed", f"JPEG header unreadable ({e})") from None
    _check_bomb(width, height, max_pixels)
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
    rgb = _orient_array(rgb, orientation)
    w, h = (height, width) if (orientation or 1) >= 5 else (width, height)
    return Decoded(_resize_long_edge(rgb, long_edge_px), w, h)


def decode_pillow(data: bytes, max_pixels: int, long_edge_px: int) -> Decoded:
    from curate.exif import _register_heif

    _register_heif()
    try:
        im = Image.open(io.BytesIO(data))
    except Exception as e:
        raise DecodeError("unsupported_format", f"not an image Pillow can open ({e})") from None
    _check_bomb(im.width, im.height, max_pixels)
    try:
        if im.format == "JPEG":
            im.draft("RGB", (long_edge_px, long_edge_px))
        im.load()
        im = ImageOps.exif_transpose(im)
        w, h = im.size
        if im.mode != "RGB":
            im = im.convert("RGB")
        im.thumbnail((long_edge_px, long_edge_px), Image.BILINEAR)
    except Exception as e:  # truncated, corrupt, unsupported codec
        raise DecodeError("decode_failed", f"{type(e).__name__}: {e}") from None
    return Decoded(np.asarray(im), int(w), int(h))


def decode_image(
    data: bytes,
    fmt: str | None,
    orientation: int | None = None,
    *,
    max_pixels: int = 200_000_000,
    long_edge_px: int = 512,
) -> Decoded:
    """Decode ``data`` (a whole file) or raise ``DecodeError`` with a reason and a detail."""
    if fmt == "JPEG":
        out = decode_jpeg(data, orientation, max_pixels, long_edge_px)
        if out is not None:
            return out
    return decode_pillow(data, max_pixels, long_edge_px)


def clip_input(rgb: np.ndarray, size_px: int = 224) -> np.ndarray:
    """CLIP's own preprocessing geometry: resize the short side to ``size_px`` (bicubic), then
    centre-crop ``size_px`` square. uint8 (size, size, 3); normalisation happens in the scorer."""
    h, w = rgb.shape[:2]
    s = size_px / min(h, w)
    nw, nh = max(size_px, round(w * s)), max(size_px, round(h * s))
    im = Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size_px) // 2, (nh - size_px) // 2
    return np.asarray(im.crop((left, top, left + size_px, top + size_px)))
