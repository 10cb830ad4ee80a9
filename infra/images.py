"""Photos as the stages read them: bytes from a path or URI, decoded to upright RGB.

One image-opening rule for every stage (curate's decoder, synth's photo pool, the trainer's
renders and real photos, ``train refocus``): bytes come through :func:`infra.uri.read_bytes`
(regular files only, a size cap), the header is judged against :class:`DecodeLimits` before a
pixel is decoded (:func:`bomb_problem`: pixel count, bitmap bytes, expansion over the file
size), and 16-bit and float images are scaled to 8 bits (:func:`to_rgb8`, :func:`to_grey_float`)
instead of clipped. Decoding is Pillow (with pillow-heif for HEIC/HEIF), EXIF orientation
applied, RGB uint8. ``max_long_edge_px`` lets big JPEGs decode at a reduced DCT scale
(``Image.draft``) and then shrinks the result with a box filter, so a 48 MP photo used as a
512 px texture costs a fraction of a full decode. Failures are :class:`PhotoError` naming the
source and the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from infra.uri import read_bytes, size_text

__all__ = [
    "MAX_PHOTO_BYTES",
    "MODE_BYTES",
    "DecodeLimits",
    "PhotoError",
    "bitmap_bytes",
    "bomb_problem",
    "decode_photo",
    "header_problem",
    "read_kernel_png",
    "read_photo",
    "register_heif",
    "to_grey_float",
    "to_rgb8",
    "write_kernel_png",
]

MB = 2**20
MAX_PHOTO_BYTES = 512 * MB  # the most a photo file may weigh (a 100 MP TIFF is ~300 MB)
# The limits are DecodeLimits, judged before decoding; Pillow's own guard would refuse some
# photos DecodeLimits allows (above 179 MP) with another message.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class DecodeLimits:
    """What a decode may cost, judged on the header (curate's ``[decode]`` settings, the same
    defaults for every other stage; docs/curate.md).

    ``bitmap_bytes = pixels x bytes per pixel``: the file's own mode (one byte per sample up to 8
    bits, two for 16-bit, four for 32-bit), never less than 3, since every image becomes 8-bit RGB
    for analysis. Above ``ratio_floor_mb`` the bitmap may be at most ``max_expansion_ratio`` times
    the file size."""

    max_pixels: int = 200_000_000
    max_bitmap_mb: int = 1024
    ratio_floor_mb: int = 256
    max_expansion_ratio: float = 250.0


LIMITS = DecodeLimits()  # every stage's defaults; curate's [decode] settings may change them


# bytes per pixel of a decoded bitmap, by Pillow mode (1-bit and palette pixels take a byte)
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16L": 2,
              "I;16B": 2, "I;16N": 2, "I": 4, "F": 4, "RGB": 3, "YCbCr": 3, "LAB": 3,
              "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4}  # fmt: skip
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def bitmap_bytes(width: int, height: int, bytes_per_pixel: int) -> int:
    """Bytes the decoded bitmap takes: at least 3 per pixel (it becomes 8-bit RGB)."""
    return width * height * max(3, bytes_per_pixel)


def bomb_problem(
    width: int, height: int, bytes_per_pixel: int, file_bytes: int, limits: DecodeLimits
) -> str | None:
    """Why the limits refuse a bitmap the header describes (one line with the numbers), or None."""
    pixels = width * height
    if pixels > limits.max_pixels:
        return (
            f"{width}x{height} = {pixels / 1e6:.3g} MP > decode.max_pixels "
            f"{limits.max_pixels / 1e6:.3g} MP"
        )
    need = bitmap_bytes(width, height, bytes_per_pixel)
    bitmap = f"{width}x{height} bitmap of {size_text(need)}"
    if need > limits.max_bitmap_mb * MB:
        return f"{bitmap} > decode.max_bitmap_mb {limits.max_bitmap_mb}"
    ratio = need / max(file_bytes, 1)
    if need > limits.ratio_floor_mb * MB and ratio > limits.max_expansion_ratio:
        return (
            f"{bitmap} from a {size_text(file_bytes)} file: x{ratio:.0f} > "
            f"decode.max_expansion_ratio {limits.max_expansion_ratio:g} (bitmaps above "
            f"decode.ratio_floor_mb {limits.ratio_floor_mb})"
        )
    return None


def to_rgb8(im: Image.Image) -> Image.Image:
    """An opened image as 8-bit RGB. 16-bit grey (``I;16*``, and ``I`` as PNG and TIFF give
    it) is scaled by 255/65535 and float (``F``) from [0, 1], where Pillow's ``convert`` would
    clip every value above 255 (or 1) to white; other modes convert as Pillow does (16-bit RGB
    PNGs already open as 8-bit ``RGB``)."""
    if im.mode == "RGB":
        return im
    if im.mode in _SIXTEEN_BIT or im.mode == "F":
        return Image.fromarray(_grey_u8(im), "L").convert("RGB")
    return im.convert("RGB")


def to_grey_float(im: Image.Image) -> np.ndarray:
    """An opened image as float32 grey in [0, 1], 16-bit and float modes scaled, not clipped."""
    if im.mode in _SIXTEEN_BIT:
        return (np.clip(np.asarray(im, np.float64), 0, 65535) / 65535.0).astype(np.float32)
    if im.mode == "F":
        return np.clip(np.asarray(im, np.float32), 0.0, 1.0)
    return np.asarray(im.convert("L"), np.float32) / np.float32(255.0)


def _grey_u8(im: Image.Image) -> np.ndarray:
    return np.rint(to_grey_float(im) * 255.0).astype(np.uint8)


class PhotoError(ValueError):
    """A photo that cannot be read or decoded; ``str()`` is ``"SOURCE: reason"``."""


_heif_registered = False


def register_heif() -> None:
    """Let Pillow open HEIC/HEIF (pillow-heif), once per process; every stage's decoder calls
    it (without pillow-heif, HEIF files fail to decode, with a reason)."""
    global _heif_registered
    if _heif_registered:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        return
    register_heif_opener()
    _heif_registered = True


def image_size(path: str) -> tuple[int, int] | None:
    """``(width, height)`` of a local image file from its header (EXIF orientation not
    applied), or None when Pillow cannot read it."""
    register_heif()
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def header_problem(path: str, limits: DecodeLimits | None = None) -> str | None:
    """Why :func:`decode_photo` would refuse the local image file ``path`` from its header
    alone (not an image Pillow reads, or a decompression bomb), or None; no pixel is decoded.
    The caller has checked that ``path`` is a regular file."""
    import os

    register_heif()
    try:
        with Image.open(path) as im:
            problem = bomb_problem(
                im.width,
                im.height,
                MODE_BYTES.get(im.mode, 4),
                os.path.getsize(path),
                limits or LIMITS,
            )
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"not a readable image ({reason})"
    return f"decompression bomb refused ({problem})" if problem else None


def decode_photo(
    data: bytes,
    source: str = "<bytes>",
    max_long_edge_px: int | None = None,
    *,
    orient: bool = True,
    limits: DecodeLimits | None = None,
) -> np.ndarray:
    """Bytes -> uint8 H×W×3 RGB, EXIF orientation applied (unless ``orient=False``);
    optionally at most ``max_long_edge_px`` on the long side (aspect kept, never enlarged).
    The header is judged by :func:`bomb_problem` first (``limits``, default ``DecodeLimits()``)."""
    register_heif()
    try:
        with Image.open(io.BytesIO(data)) as im:
            problem = bomb_problem(
                im.width, im.height, MODE_BYTES.get(im.mode, 4), len(data), limits or LIMITS
            )
            if problem:
                raise PhotoError(f"{source}: decompression bomb refused ({problem})")
            if max_long_edge_px and im.format == "JPEG":
                scale = max_long_edge_px / max(im.size)
                if scale < 1:
                    im.draft("RGB", (int(im.width * scale) + 1, int(im.height * scale) + 1))
            if orient:
                im = ImageOps.exif_transpose(im)
            im = to_rgb8(im)
            if max_long_edge_px and max(im.size) > max_long_edge_px:
                scale = max_long_edge_px / max(im.size)
                size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
                im = im.resize(size, Image.BOX)
            return np.asarray(im)
    except PhotoError:
        raise
    except Image.UnidentifiedImageError:
        raise PhotoError(f"{source}: cannot decode (not an image format Pillow reads)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PhotoError(f"{source}: cannot decode ({reason})") from None


def read_photo(uri: str, max_long_edge_px: int | None = None, *, fs_cache=None) -> np.ndarray:
    """The photo at a local path or URI (``file://``, ``s3://``, ...), decoded upright RGB."""
    try:
        data = read_bytes(uri, fs_cache=fs_cache, max_bytes=MAX_PHOTO_BYTES)
    except (OSError, ValueError) as e:
        raise PhotoError(f"{uri}: cannot read ({e.strerror or e})") from None
    return decode_photo(data, uri, max_long_edge_px)


def write_kernel_png(path, kernel) -> None:
    """An aperture kernel (square, values in [0, 1]) as an 8-bit grey PNG (white = open)."""
    from optics.aperture import validate_kernel

    k = validate_kernel(kernel, str(path))
    Image.fromarray(np.rint(k * 255.0).astype(np.uint8), "L").save(path, format="PNG")


def read_kernel_png(uri: str, *, user: bool = False) -> np.ndarray:
    """A kernel PNG as float32 in [0, 1]: as stored (``dof_KK_kernel.png``: square, with an
    opening) or, with ``user=True``, any square grey/colour image the user drew, centred and
    scaled to the CoC circle (``optics.aperture.kernel_from_array``). One-line errors
    (:class:`optics.aperture.KernelError`) name the file."""
    from optics.aperture import MAX_KERNEL_PX, KernelError, kernel_from_array, validate_kernel

    try:
        data = read_bytes(uri)
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise KernelError(f"{uri}: cannot read the kernel ({reason})") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if max(im.size) > MAX_KERNEL_PX:  # before decoding: a huge image is refused cheaply
                raise KernelError(
                    f"{uri}: a kernel must be at most {MAX_KERNEL_PX} px, got {im.size}"
                )
            im.load()
            grey = to_grey_float(im)
    except KernelError:
        raise
    except Exception as e:
        raise KernelError(f"{uri}: not a readable image ({type(e).__name__})") from None
    if user:
        return kernel_from_array(grey, uri)
    return validate_kernel(grey, uri)
