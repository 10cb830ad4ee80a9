"""Predictions folders: the images an external pipeline made, read and written by one rule.

``python -m train benchmark --predictions DIR`` scores images our code did not make. The folder
holds one file per expected name, at that relative path (``bokeh/<row_id>.png``); the names come
from the benchmark's row ids (see docs/benchmark.md), the sizes from its scenes.
:func:`read_predictions` takes the expected names with their ``(width_px, height_px)`` and
refuses, in one line naming the file (:class:`PredictionsError`), any folder that would not be
scored as it stands: a missing file, an extra file (usually a naming mistake; ignoring it would
score another set than the one meant), a link resolving outside the folder (links inside it are
followed), anything but a regular file (a FIFO or device is refused without blocking,
:func:`infra.uri.read_bytes`), a file that is not a whole PNG or JPEG (a PNG must end with its
IEND chunk), is animated, is not 8-bit RGB (greyscale, RGBA, palette and 16-bit files are
refused, never converted or scaled: that would change the scores), or has another size.
Pixels are taken as stored: EXIF orientation is not applied. Ignored, never read: any file or
folder whose name starts with ``.`` (at any depth: ``.DS_Store``, the temp files of
:func:`infra.files.atomic_write`), and top-level files named ``README*`` or
``predictions.json``. :func:`write_predictions` writes a folder this rule reads back bit for bit
(8-bit RGB PNGs, written atomically); :func:`name_problem` is the naming rule.
"""

from __future__ import annotations

import io
import os
import posixpath
import re

import numpy as np
from PIL import Image

from infra.files import atomic_write
from infra.images import LIMITS, MODE_BYTES, PhotoError, bomb_problem, decode_photo
from infra.uri import read_bytes
from manifests.paths import WalkProblem, is_dir_entry, walk_inside

__all__ = [
    "ACCEPTED_FORMATS",
    "IGNORED_TOP_LEVEL",
    "MAX_PREDICTION_BYTES",
    "PredictionsError",
    "name_problem",
    "read_predictions",
    "write_predictions",
]

ACCEPTED_FORMATS = ("PNG", "JPEG")  # Pillow's format names; the mode must be 8-bit "RGB"
IGNORED_TOP_LEVEL = re.compile(r"^(README.*|predictions\.json)$")  # besides hidden names
MAX_PREDICTION_BYTES = 256 * 2**20  # the most one prediction file may weigh
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk, always the last 12 bytes


class PredictionsError(ValueError):
    """A predictions folder that cannot be scored as it stands; ``str()`` is one line,
    ``"NAME: reason"``, NAME relative to the folder for a file inside it (the folder as given
    otherwise), names with control characters or undecodable bytes shown escaped."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{_shown(name)}: {_one_line(reason)}")


def _shown(name: str) -> str:
    """``name`` as it may stand in a one-line message: itself when printable UTF-8, else its
    ``ascii()`` form (a newline or a byte that is not UTF-8 in a file name stays visible)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(name)
    return name if name.isprintable() else ascii(name)


def _one_line(text: str) -> str:
    lines = str(text).splitlines()
    return lines[0] if lines else str(text)


def name_problem(name) -> str | None:
    """Why ``name`` cannot be an expected prediction name, or None: a non-empty relative POSIX
    path, printable, normalised (no empty, ``.`` or ``..`` parts, no backslash), no part hidden
    (starting with ``.``) and not a top-level name the reader ignores."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if not name.isprintable() or "\\" in name:
        return "has a control character or a backslash"
    if name.startswith("/"):
        return "is absolute (use a path relative to the predictions folder)"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(name) != name:
        return "is not a normalised relative path (empty, '.' or '..' parts)"
    if any(p.startswith(".") for p in parts):
        return "has a hidden part (names starting with '.' are ignored when read)"
    if len(parts) == 1 and IGNORED_TOP_LEVEL.match(name):
        return "is a top-level name the reader ignores (README*, predictions.json)"
    return None


def write_predictions(folder, images: dict[str, np.ndarray]) -> None:
    """Write ``images`` (relative name -> uint8 H×W×3 array) under ``folder`` as 8-bit RGB
    PNGs, each with :func:`infra.files.atomic_write`, sub-folders created. Every name (ending
    ``.png``, :func:`name_problem`) and array is checked before the first file is written;
    ``ValueError`` names the first bad one."""
    for name, arr in images.items():
        why = name_problem(name)
        if why is None and not name.endswith(".png"):
            why = "does not end in .png (predictions are written as PNG)"
        if why:
            raise ValueError(f"{_shown(str(name))}: the prediction name {why}")
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8:
            kind = getattr(arr, "dtype", type(arr).__name__)
            raise ValueError(f"{name}: a prediction must be a uint8 array, got {kind}")
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{name}: a prediction must be H×W×3, got shape {arr.shape}")
    for name, arr in images.items():
        im = Image.fromarray(np.ascontiguousarray(arr), "RGB")
        atomic_write(
            os.path.join(os.fspath(folder), *name.split("/")),
            lambda tmp, im=im: im.save(tmp, format="PNG"),
        )


def read_predictions(folder, expected: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """The predictions in ``folder``, one uint8 H×W×3 array per expected name (in
    ``expected``'s order), each ``expected[name] == (width_px, height_px)``. The module's rules
    hold for the whole folder before any image is decoded; a breach is a one-line
    :class:`PredictionsError`. A malformed ``expected`` (the caller's mistake) is ``ValueError``."""
    for name, size in expected.items():
        why = name_problem(name)
        if why:
            raise ValueError(f"{_shown(str(name))}: the expected prediction name {why}")
        if not (
            isinstance(size, tuple)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise ValueError(f"{name}: the expected size must be (width_px, height_px) > 0")
    root = os.fspath(folder)
    if not os.path.exists(root):
        raise PredictionsError(root, "the predictions folder does not exist")
    if not os.path.isdir(root):
        raise PredictionsError(root, "not a folder (the predictions folder must be one)")
    real_root = os.path.realpath(root)
    found = _listing(root, real_root)
    _check_names(root, set(found), expected)
    return {name: _read_one(name, found[name], expected[name]) for name in expected}


def _listing(root: str, real_root: str) -> dict[str, str]:
    """Every non-ignored, non-folder entry under ``root`` as ``{relative name: resolved path}``;
    links are followed while they resolve inside ``real_root`` (outside, or a folder link back
    to one of its own ancestors: :class:`PredictionsError`)."""
    try:
        return walk_inside(real_root, real_root, lambda rel_dir, e: not rel_dir and _ignored_top(e))
    except WalkProblem as p:
        if p.kind == "list":
            raise PredictionsError(p.rel or root, f"cannot list {p.detail}") from None
        if p.kind == "outside":
            raise PredictionsError(
                p.rel, f"a link resolving outside the predictions folder (to {_shown(p.detail)})"
            ) from None
        raise PredictionsError(p.rel, "a folder link back to its own parent (a loop)") from None


def _ignored_top(entry: os.DirEntry) -> bool:
    return not is_dir_entry(entry) and IGNORED_TOP_LEVEL.match(entry.name) is not None


def _check_names(root: str, found: set[str], expected: dict) -> None:
    """Refuse a folder with a missing or an extra file, naming the first of each and counts."""
    missing = sorted(set(expected) - found)
    extra = sorted(found - set(expected))
    if missing:
        name = missing[0]
        what = "missing"
        if os.path.isdir(os.path.join(root, *name.split("/"))):
            what = "missing (a folder has that name)"
        also = f"; {len(extra)} unexpected, first {_shown(extra[0])}" if extra else ""
        raise PredictionsError(
            name, f"{what} ({len(missing)} of {len(expected)} predictions missing{also})"
        )
    if extra:
        raise PredictionsError(
            extra[0],
            f"not an expected prediction ({len(extra)} unexpected file(s); each file must be "
            "one expected name, see docs/benchmark.md)",
        )


def _read_one(name: str, path: str, size: tuple[int, int]) -> np.ndarray:
    """One prediction file, read through :func:`infra.uri.read_bytes` (regular files only, a
    size cap), its header judged (:func:`_header_problem`) before
    :func:`infra.images.decode_photo` decodes it without EXIF orientation."""
    try:
        data = read_bytes(path, max_bytes=MAX_PREDICTION_BYTES)
    except (OSError, ValueError) as e:
        raise PredictionsError(name, f"cannot read ({getattr(e, 'strerror', None) or e})") from None
    why = _header_problem(data, size)
    if why:
        raise PredictionsError(name, why)
    try:
        rgb = decode_photo(data, name, orient=False)
    except PhotoError as e:
        raise PredictionsError(name, str(e).removeprefix(f"{name}: ")) from None
    if rgb.shape != (size[1], size[0], 3) or rgb.dtype != np.uint8:  # pragma: no cover
        raise PredictionsError(name, f"decoded to {rgb.shape} {rgb.dtype}, not {size} uint8 RGB")
    return rgb


def _header_problem(data: bytes, size: tuple[int, int]) -> str | None:
    """Why a prediction file's header is refused (format, frames, mode, bit depth, size, the
    decode limits), or None; no pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode, got, frames = im.format, im.mode, im.size, getattr(im, "n_frames", 1)
    except Image.UnidentifiedImageError:
        return "not a readable image (no format Pillow knows; predictions must be PNG or JPEG)"
    except Exception as e:  # Pillow raises many kinds on hostile bytes
        reason = _one_line(str(e)) or type(e).__name__
        return f"not a readable image ({reason})"
    if fmt not in ACCEPTED_FORMATS:
        return f"a {fmt} file; predictions must be PNG or JPEG"
    if frames != 1:
        return f"an animated {fmt} ({frames} frames); predictions must be one still image"
    if mode != "RGB":
        return f"mode {mode}; predictions must be 8-bit RGB (no grey, alpha, palette or 16-bit)"
    if fmt == "PNG" and data[:8] == _PNG_SIGNATURE and len(data) > 24 and data[24] != 8:
        # Pillow opens a 16-bit RGB PNG as 8-bit "RGB", dropping the low bytes: refused here
        return f"a {data[24]}-bit RGB PNG; predictions must be 8-bit RGB"
    if fmt == "PNG" and not data.endswith(_PNG_END):
        # Pillow decodes a PNG cut inside its last chunk when the pixels are complete
        return "a PNG that does not end with its IEND chunk (truncated, or bytes after it)"
    if got != tuple(size):
        return f"{got[0]}x{got[1]} px, expected {size[0]}x{size[1]} px"
    problem = bomb_problem(got[0], got[1], MODE_BYTES["RGB"], len(data), LIMITS)
    return f"decompression bomb refused ({problem})" if problem else None
