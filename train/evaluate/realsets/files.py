"""A real dataset's files and a predictions folder, read by one rule.

:func:`list_folder` lists every file under ``ROOT/SUB`` as ``{name relative to SUB: resolved
path}``; links are followed while they resolve inside ``ROOT`` (the folder the user gave), and a
link resolving outside it, or a folder link back to one of its own ancestors, is a
:class:`RealSetError`. Names starting with ``.`` are skipped at any depth. :func:`read_image`
reads one file through :func:`infra.uri.read_bytes` (regular files only, a size cap) and decodes
a PNG or JPEG to float32 H×W×3 in [0, 1] at the file's own precision: 8-bit divided by 255,
16-bit PNG by 65535 (``torchvision.io.decode_png``: Pillow opens a 16-bit RGB PNG as 8-bit,
dropping the low bytes). Only RGB still images are read (no grey, alpha, palette or animation), a
PNG must end with its IEND chunk, and pixels are taken as stored (no EXIF orientation, as the
datasets' own loaders read them). :class:`PredictionsFolder` checks a predictions folder whole
(every required file present, nothing unexpected) before one image is decoded.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from infra.images import LIMITS, PhotoError, bomb_problem, decode_photo
from infra.uri import read_bytes
from manifests.paths import WalkProblem, inside_root, walk_inside
from train.evaluate.predictions import IGNORED_TOP_LEVEL

MAX_IMAGE_BYTES = 512 * 2**20  # the most one image file may weigh
FORMATS = ("PNG", "JPEG")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # compared lower-cased
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class RealSetError(ValueError):
    """A dataset root, predictions folder or weights file that cannot be scored as it stands;
    ``str()`` is one line, ``"PATH: reason"`` (names with control characters or bytes that are
    not UTF-8 shown escaped)."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{shown(name)}: {one_line(reason)}")


def shown(name: str) -> str:
    """``name`` as it may stand in a one-line message (its ``ascii()`` form when not printable
    UTF-8)."""
    name = str(name)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(name)
    return name if name.isprintable() else ascii(name)


def one_line(text) -> str:
    lines = str(text).splitlines()
    return lines[0] if lines else str(text)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def list_folder(root: str, sub: str = "", what: str = "the dataset root") -> dict[str, str]:
    """Every file under ``root/sub`` as ``{POSIX name relative to sub: resolved path}``, links
    followed while they resolve inside ``root``; ``what`` names ``root`` in the messages."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        why = "not a folder" if os.path.exists(root) else "does not exist"
        raise RealSetError(root, f"{what} {why}")
    real_root = os.path.realpath(root)
    start = os.path.join(root, *sub.split("/")) if sub else root
    real_start = os.path.realpath(start)
    if not inside_root(real_start, real_root):
        raise RealSetError(start, f"a link resolving outside {what} (to {shown(real_start)})")
    if not os.path.isdir(real_start):
        why = "not a folder" if os.path.exists(real_start) else "missing"
        raise RealSetError(start, f"{why} (the layout is in docs/real-datasets.md)")
    try:
        return walk_inside(real_start, real_root)
    except WalkProblem as p:
        where = os.path.join(start, *p.rel.split("/")) if p.rel else start
        if p.kind == "list":
            raise RealSetError(where, f"cannot list {p.detail}") from None
        if p.kind == "outside":
            why = f"a link resolving outside {what} (to {shown(p.detail)})"
            raise RealSetError(where, why) from None
        raise RealSetError(where, "a folder link back to its own parent (a loop)") from None


def read_image(path: str, name: str) -> np.ndarray:
    """The PNG or JPEG at ``path`` as float32 H×W×3 in [0, 1] (see the module docstring);
    ``name``: the file as the messages show it."""
    try:
        data = read_bytes(path, max_bytes=MAX_IMAGE_BYTES)
    except (OSError, ValueError) as e:
        raise RealSetError(name, f"cannot read ({getattr(e, 'strerror', None) or e})") from None
    why, sixteen, size = _header(data)
    if why:
        raise RealSetError(name, why)
    if sixteen:
        img = _decode_png16(data, name)
    else:
        try:
            img = decode_photo(data, name, orient=False).astype(np.float32) / np.float32(255.0)
        except PhotoError as e:
            raise RealSetError(name, str(e).removeprefix(f"{name}: ")) from None
    if img.shape != (size[1], size[0], 3):  # pragma: no cover - the decoders keep the header's
        raise RealSetError(name, f"decoded to {img.shape}, not {size[0]}x{size[1]} RGB")
    return img


def _header(data: bytes) -> tuple[str | None, bool, tuple[int, int]]:
    """``(why refused or None, 16-bit PNG, (width, height))`` from the header alone."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode, size, frames = im.format, im.mode, im.size, getattr(im, "n_frames", 1)
    except Image.UnidentifiedImageError:
        return "not a readable image (not a PNG or JPEG)", False, (0, 0)
    except Exception as e:  # Pillow raises many kinds on hostile bytes
        return f"not a readable image ({one_line(e) or type(e).__name__})", False, (0, 0)
    if fmt not in FORMATS:
        return f"a {fmt} file; PNG or JPEG expected", False, size
    if frames != 1:
        return f"an animated {fmt} ({frames} frames); one still image expected", False, size
    if mode != "RGB":
        return f"mode {mode}; RGB expected (no grey, alpha or palette)", False, size
    png = fmt == "PNG" and data[:8] == _PNG_SIGNATURE and len(data) > 25
    if png and not data.endswith(_PNG_END):
        return "a PNG that does not end with its IEND chunk (truncated?)", False, size
    sixteen = png and data[24] == 16
    problem = bomb_problem(size[0], size[1], 6 if sixteen else 3, len(data), LIMITS)
    if problem:
        return f"decompression bomb refused ({problem})", sixteen, size
    return None, sixteen, size


def _decode_png16(data: bytes, name: str) -> np.ndarray:
    """A 16-bit RGB PNG at full precision. ``torchvision.io.decode_png`` is deprecated since
    torchvision 0.29 (for TorchCodec, not a dependency); the project pins 0.29, and the notice,
    which would print once per image, is silenced here."""
    import warnings

    import torch
    from torchvision.io import ImageReadMode, decode_png

    buf = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
            t = decode_png(buf, ImageReadMode.UNCHANGED)
    except (RuntimeError, ValueError) as e:
        raise RealSetError(name, f"cannot decode the 16-bit PNG ({one_line(e)})") from None
    if t.ndim != 3 or t.shape[0] != 3:
        raise RealSetError(name, f"a 16-bit PNG with {t.shape[0]} channels; RGB expected")
    return (t.to(torch.float32) / 65535.0).permute(1, 2, 0).numpy()


class PredictionsFolder:
    """A folder of an external method's images, one per expected name. ``allowed``: every name
    the dataset defines; ``required``: those of the items scored (``--max-items`` scores fewer).
    A required name missing, or a file that is no allowed name, is refused before any image is
    read; hidden files and top-level ``README*`` / ``predictions.json`` are ignored."""

    def __init__(self, folder: str, allowed: set[str], required: list[str]):
        self.folder = os.fspath(folder)
        files = list_folder(self.folder, "", "the predictions folder")
        self.files = {n: p for n, p in files.items() if "/" in n or not IGNORED_TOP_LEVEL.match(n)}
        extra = sorted(set(self.files) - allowed)
        missing = [n for n in required if n not in self.files]
        if missing:
            also = f"; {len(extra)} unexpected, first {shown(extra[0])}" if extra else ""
            raise RealSetError(
                self.path(missing[0]),
                f"missing ({len(missing)} of {len(required)} predictions missing{also}; the "
                "names are in docs/real-datasets.md)",
            )
        if extra:
            raise RealSetError(
                self.path(extra[0]),
                f"not an expected prediction ({len(extra)} unexpected file(s); each file must "
                "be one expected name, docs/real-datasets.md)",
            )

    def path(self, name: str) -> str:
        return os.path.join(self.folder, *name.split("/"))

    def image(self, name: str, size: tuple[int, int], truth: str) -> np.ndarray:
        """The prediction ``name`` as float32 H×W×3 in [0, 1]; it must be ``size`` (width,
        height), the size of the file ``truth`` it is scored against."""
        img = read_image(self.files[name], self.path(name))
        if img.shape[:2] != (size[1], size[0]):
            raise RealSetError(
                self.path(name),
                f"{img.shape[1]}x{img.shape[0]} px, expected {size[0]}x{size[1]} px "
                f"(the size of {shown(truth)})",
            )
        return img
