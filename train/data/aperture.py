"""A row's aperture as a kernel: BokehNet's optional shape condition (``model.shape_condition``).

:func:`row_kernel` gives the ``optics.aperture`` kernel (float32, ``KERNEL_SIZE_PX`` square,
white = open, spanning the CoC's bounding square, behind-focus orientation, row 0 at the top)
of a ``synthetic_pairs`` row: its ``aperture_kernel_path`` PNG for a shaped render, else Cycles'
own aperture rasterised from ``aperture_blades`` / ``aperture_rotation_deg`` / ``aperture_ratio``.
:func:`kernel_from_text` is the ``--aperture`` of inference (a shape label or a PNG path).
numpy and ``optics`` / ``manifests`` only.
"""

from __future__ import annotations

import numpy as np

from infra.images import read_kernel_png
from manifests.paths import resolve_in_root
from optics.aperture import (
    KERNEL_SIZE_PX,
    SUPERSAMPLE,
    KernelError,
    parse_shape,
    pixel_grid,
    rasterize,
    rasterize_polygon,
    resample_square,
)

KERNEL_COLUMN = "aperture_kernel_path"


def cycles_kernel(
    blades: int, rotation_deg: float, ratio: float, size_px: int = KERNEL_SIZE_PX
) -> np.ndarray:
    """Cycles' own aperture as a kernel: round for fewer than 3 blades, else the regular polygon
    with vertex ``k`` at angle ``rotation + π/N + 2πk/N`` from +x (counter-clockwise, y up: Cycles
    samples blade ``k``'s triangle around ``rotation + 2πk/N``, an edge's midpoint, so 5 blades at
    rotation 0 point a vertex left; measured in tests/synth/test_aperture_shapes.py; the
    ``optics.aperture`` label ``polygonN@(rotation_deg + 180/N − 90)``, first vertex at the top).
    Anamorphic ``ratio`` r narrows the horizontal extent to 1/r: the open set is
    ``{(x, y) : (r·x, y) in the round or polygonal opening}``."""
    r = float(ratio)
    if not (np.isfinite(r) and r > 0):
        raise KernelError(f"aperture_ratio must be a finite number > 0, got {ratio!r}")
    n = int(blades)
    if n < 3:
        if r == 1.0:
            return rasterize(parse_shape("round"), size_px)
        x, y = np.broadcast_arrays(*pixel_grid(int(size_px), SUPERSAMPLE))
        inside = np.hypot(r * x, y) <= 1.0
        m = int(size_px)
        return inside.reshape(m, SUPERSAMPLE, m, SUPERSAMPLE).mean(axis=(1, 3)).astype(np.float32)
    t = np.deg2rad(float(rotation_deg)) + np.pi / n + 2 * np.pi * np.arange(n) / n
    points = np.stack([np.cos(t) / r, np.sin(t)], -1)
    return rasterize_polygon(points, size_px)


def kernel_file(path: str, root: str | None) -> str:
    """``path`` (a manifest path column value) resolved against ``root`` by the manifest-path
    and root-escape rules of every reader (``manifests.paths.resolve_in_root``), else
    :class:`KernelError` (one line, naming the file)."""
    try:
        return resolve_in_root(str(path), root)
    except ValueError as e:
        raise KernelError(f"{KERNEL_COLUMN} {e}") from None


def row_kernel(row: dict, root: str | None = None) -> np.ndarray:
    """The kernel of a ``synthetic_pairs`` row (float32, ``KERNEL_SIZE_PX`` square): its
    ``aperture_kernel_path`` PNG (``infra.images.read_kernel_png``, resolved with
    :func:`kernel_file` against ``root``, default the row's ``_root``) when set, else
    :func:`cycles_kernel` of its blades, rotation and ratio. One-line :class:`KernelError`s."""
    root = row.get("_root") if root is None else root
    path = row.get(KERNEL_COLUMN)
    if path:
        kernel = read_kernel_png(kernel_file(path, root))
        if kernel.shape != (KERNEL_SIZE_PX, KERNEL_SIZE_PX):
            kernel = resample_square(kernel, KERNEL_SIZE_PX).astype(np.float32)
        return kernel
    return cycles_kernel(
        int(row.get("aperture_blades") or 0),
        float(row.get("aperture_rotation_deg") or 0.0),
        float(row.get("aperture_ratio") or 1.0),
    )


def kernel_from_text(text: str) -> np.ndarray:
    """An ``--aperture`` value as a kernel: a path ending in ``.png`` is a user kernel
    (``read_kernel_png(path, user=True)``: centred, scaled to the CoC circle), anything else an
    ``optics.aperture`` shape (``round``, ``hexagon``, ``star5@12``...) rasterised."""
    text = str(text)
    if text.lower().endswith(".png"):
        return read_kernel_png(text, user=True)
    return rasterize(parse_shape(text))
