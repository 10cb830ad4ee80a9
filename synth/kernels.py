"""User aperture kernels: PNG files named in ``[aperture] shapes`` beside the built-in names.

A ``shapes`` entry ending in ``.png`` is a kernel image the user drew (square, grey, white =
open; read by ``infra.images.read_kernel_png(user=True)``: centred as given and scaled so its
farthest open pixel touches the CoC circle). Before any scene is sampled the command reads each
one (one-line error naming the file, nothing rendered) and replaces the entry by the kernel's
label ``kernel-<16 hex>`` (SHA-256 of its 8-bit raster), so the spec names the kernel by content
(a changed PNG is a new dataset) and the renderers get the array by that label. User kernels are
not rotated (``shape_rotation_deg`` applies to the built-ins only). numpy only, plus the reader.
"""

from __future__ import annotations

import hashlib

import numpy as np

from optics.aperture import parse_shape, rasterize

KERNEL_PREFIX = "kernel-"


def is_kernel_file(entry: str) -> bool:
    """A ``shapes`` entry naming a PNG file rather than a built-in shape."""
    return str(entry).lower().endswith(".png")


def kernel_label(kernel: np.ndarray) -> str:
    """``kernel-`` + 16 hex of the SHA-256 of the kernel's 8-bit raster and size."""
    k = np.asarray(kernel, dtype=np.float64)
    raster = np.rint(np.clip(k, 0.0, 1.0) * 255.0).astype(np.uint8)
    digest = hashlib.sha256(f"{raster.shape}".encode() + raster.tobytes()).hexdigest()
    return KERNEL_PREFIX + digest[:16]


def resolve_shapes(cfg):
    """``(cfg', kernels)``: ``cfg`` with every PNG entry of ``aperture.shapes`` replaced by its
    label, and ``{label: kernel}``. Raises ``optics.aperture.KernelError`` naming the file."""
    from infra.images import read_kernel_png

    shapes, kernels = [], {}
    for entry in cfg.aperture.shapes:
        if is_kernel_file(entry):
            k = read_kernel_png(str(entry), user=True)
            label = kernel_label(k)
            kernels[label] = k
            shapes.append(label)
        else:
            shapes.append(entry)
    if not kernels:
        return cfg, {}
    aperture = cfg.aperture.model_copy(update={"shapes": shapes})
    return cfg.model_copy(update={"aperture": aperture}), kernels


def kernel_for(label: str, kernels: dict | None = None) -> np.ndarray:
    """The kernel a DoF render with ``DofSpec.aperture = label`` looks through."""
    if str(label).startswith(KERNEL_PREFIX):
        if not kernels or label not in kernels:
            raise RuntimeError(
                f"aperture {label}: a user kernel that was not loaded (render with the config "
                "that names its PNG in aperture.shapes)"
            )
        return kernels[label]
    return rasterize(parse_shape(label))
