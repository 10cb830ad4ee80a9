"""A row's aperture as a kernel: BokehNet's optional shape condition (``model.shape_condition``).

:func:`row_kernel` gives the ``optics.aperture`` kernel (float32, ``KERNEL_SIZE_PX`` square,
white = open, spanning the CoC's bounding square, behind-focus orientation, row 0 at the top)
of a ``synthetic_pairs`` row: its ``aperture_kernel_path`` PNG for a shaped render, else Cycles'
own aperture from ``aperture_blades`` / ``aperture_rotation_deg`` / ``aperture_ratio``
(``optics.aperture.cycles_kernel``: the geometry lives in ``optics``; the name stays importable
from here). :func:`kernel_from_text` is the ``--aperture`` of inference (a shape label or a PNG
path). This module is the manifest side only (the column, its paths and files): numpy,
``optics``, ``infra`` and ``manifests``.
"""

from __future__ import annotations

import numpy as np

from infra.images import read_kernel_png
from manifests.paths import resolve_in_root
from optics.aperture import (
    KERNEL_SIZE_PX,
    KernelError,
    cycles_kernel,
    parse_shape,
    rasterize,
    resample_square,
)

KERNEL_COLUMN = "aperture_kernel_path"


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
    ``optics.aperture.cycles_kernel`` of its blades, rotation and ratio. One-line
    :class:`KernelError`s."""
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
