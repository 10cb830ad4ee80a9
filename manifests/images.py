"""Photos as the stages read them: bytes from a path or URI, decoded to upright RGB.

One decoding path for every stage that consumes images named by a manifest (the trainer's real
route, synth's photo pool): Pillow (with pillow-heif for HEIC/HEIF), EXIF orientation applied,
RGB uint8. ``max_long_edge_px`` lets big JPEGs decode at a reduced DCT scale (``Image.draft``)
and then shrinks the result with a box filter, so a 48 MP photo used as a 512 px texture costs
a fraction of a full decode. Failures are :class:`PhotoError` naming the source and the reason.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from manifests.uri import read_bytes

__all__ = [
    "PhotoError",
    "decode_photo",
    "read_kernel_png",
    "read_photo",
    "register_heif",
    "write_kernel_png",
]

# 16 bits per side is the most any photo here needs; Pillow's own bomb guard stays on below it.
MAX_PIXELS = 2**28


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


def decode_photo(
    data: bytes, source: str = "<bytes>", max_long_edge_px: int | None = None
) -> np.ndarray:
    """Bytes -> uint8 H×W×3 RGB, EXIF orientation applied; optionally at most
    ``max_long_edge_px`` on the long side (aspect kept, never enlarged)."""
    register_heif()
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise PhotoError(f"{source}: {im.width}x{im.height} px is too large to decode")
            if max_long_edge_px and im.format == "JPEG":
                scale = max_long_edge_px / max(im.size)
                if scale < 1:
                    im.draft("RGB", (int(im.width * scale) + 1, int(im.height * scale) + 1))
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
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
        data = read_bytes(uri, fs_cache=fs_cache)
    except (OSError, ValueError) as e:
        raise PhotoError(f"{uri}: cannot read ({e.strerror or e})") from None
    return decode_photo(data, uri, max_long_edge_px)


def write_kernel_png(path, kernel) -> None:
    """An aperture kernel (square, values in [0, 1]) as an 8-bit grey PNG (white = open)."""
    from optics.aperture import validate_kernel

    k = validate_kernel(kernel, str(path))
    Image.fromarray(np.rint(k * 255.0).astype(np.uint8), "L").save(path)


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
            grey = np.asarray(im.convert("L"))
    except KernelError:
        raise
    except Exception as e:
        raise KernelError(f"{uri}: not a readable image ({type(e).__name__})") from None
    if user:
        return kernel_from_array(grey, uri)
    return validate_kernel(grey / np.float32(255.0), uri)
