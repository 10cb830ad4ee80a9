"""Aperture shapes as kernel images: built-in shapes, Cycles' blades, user kernels, light loss.

A *kernel* is a square float array in [0, 1] (the open fraction of each pixel) spanning the
circle of confusion's bounding square ``[−1, 1]²``: the circle of diameter CoC is the inscribed
circle, and the opening touches it (its farthest open point is at radius 1), so a kernel scaled
to the CoC the labels predict is the footprint of a small highlight. Orientation: as the kernel
appears in the image for a highlight *behind* the focus plane (row 0 at the top, x to the
right); in front of the focus plane a thin lens shows it rotated by 180° (:mod:`optics.bokeh`
does the same).

Built-ins (:data:`BUILTIN_SHAPES`): ``round``, ``polygon`` (N sides, 3–16; ``hexagon`` is
``polygon`` 6, ``triangle`` 3), ``star`` (N points, 4–12, inner radius 0.45) and ``heart``. A
polygon's first vertex points up (a triangle stands on its base), before ``rotation_deg``
(counter-clockwise). A user kernel (any square grey image, white = open) is centred on the
image centre as given and scaled so that its farthest open pixel touches the circle.
Cycles' own aperture (blades, rotation, anamorphic ratio) is :func:`cycles_kernel`.

``open_fraction`` is the light a shape lets through relative to the round aperture of the same
CoC (its area over the disc's); ``light_loss_ev = −log2(open_fraction)`` is the exposure a
renderer adds to keep brightness equal between shapes, and :func:`normalised` (sum 1) is what a
convolution uses, so changing the shape never changes the overall brightness. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KERNEL_SIZE_PX = 128  # the rasterised kernel every stage stores and uses
SUPERSAMPLE = 4  # sub-samples per pixel and axis when rasterising a shape
STAR_INNER_RADIUS = 0.45
OPEN_THRESHOLD = 0.5  # a pixel at least this open counts as opening (footprints, validation)
POLYGON_SIDES = (3, 16)
STAR_POINTS = (4, 12)
BUILTIN_SHAPES = ("round", "polygon", "star", "heart")
# Names the CLI and configs accept, with their parameters.
ALIASES = {
    "round": ("round", 0),
    "triangle": ("polygon", 3),
    "square": ("polygon", 4),
    "pentagon": ("polygon", 5),
    "hexagon": ("polygon", 6),
    "octagon": ("polygon", 8),
    "star": ("star", 5),
    "heart": ("heart", 0),
}
MIN_KERNEL_PX = 8
MAX_KERNEL_PX = 2048


class KernelError(ValueError):
    """A kernel that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class ApertureShape:
    """A built-in shape: ``name`` in :data:`BUILTIN_SHAPES`, ``sides`` (polygon sides / star
    points, 0 otherwise) and ``rotation_deg`` (counter-clockwise, as seen in the image)."""

    name: str
    sides: int = 0
    rotation_deg: float = 0.0

    def __post_init__(self):
        if self.name not in BUILTIN_SHAPES:
            raise KernelError(f"unknown aperture shape {self.name!r} (one of {BUILTIN_SHAPES})")
        lo, hi = {"polygon": POLYGON_SIDES, "star": STAR_POINTS}.get(self.name, (0, 0))
        if self.name in ("polygon", "star") and not lo <= self.sides <= hi:
            raise KernelError(f"aperture {self.name} needs {lo}-{hi} sides, got {self.sides}")
        if self.name in ("round", "heart") and self.sides != 0:
            raise KernelError(f"aperture {self.name} takes no sides, got {self.sides}")
        if not np.isfinite(self.rotation_deg):
            raise KernelError(f"aperture rotation must be finite, got {self.rotation_deg}")

    @property
    def label(self) -> str:
        """``round``, ``polygon6``, ``star5``, ``heart`` (+ ``@30`` for a rotation of 30°)."""
        base = self.name + (str(self.sides) if self.sides else "")
        return base if self.rotation_deg == 0 else f"{base}@{self.rotation_deg:g}"


def parse_shape(text: str) -> ApertureShape:
    """``round``, ``triangle``, ``hexagon``, ``star``, ``heart``, ``polygonN``, ``starN``, each
    optionally ``@DEG`` (rotation); the inverse of :attr:`ApertureShape.label`."""
    raw = str(text).strip().lower()
    base, _, rot = raw.partition("@")
    try:
        rotation = float(rot) if rot else 0.0
    except ValueError:
        raise KernelError(f"aperture {text!r}: rotation {rot!r} is not a number") from None
    if base in ALIASES:
        name, sides = ALIASES[base]
        return ApertureShape(name, sides, rotation)
    for name in ("polygon", "star"):
        if base.startswith(name) and base[len(name) :].isdigit():
            return ApertureShape(name, int(base[len(name) :]), rotation)
    raise KernelError(
        f"unknown aperture {text!r}: use one of {sorted(ALIASES)}, polygonN, starN or a PNG path"
    )


def outline(shape: ApertureShape, n_round: int = 256) -> np.ndarray:
    """The shape's boundary as a closed polygon (K×2, x right, y up), farthest point at radius 1.

    Polygons and stars start at the top vertex; the heart is the classic heart curve
    ``x = 16 sin³t, y = 13 cos t − 5 cos 2t − 2 cos 3t − cos 4t`` centred on its bounding box.
    """
    if shape.name == "round":
        t = np.linspace(0, 2 * np.pi, n_round, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], -1)
    elif shape.name == "polygon":
        t = np.pi / 2 + 2 * np.pi * np.arange(shape.sides) / shape.sides
        pts = np.stack([np.cos(t), np.sin(t)], -1)
    elif shape.name == "star":
        k = np.arange(2 * shape.sides)
        t = np.pi / 2 + np.pi * k / shape.sides
        r = np.where(k % 2 == 0, 1.0, STAR_INNER_RADIUS)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], -1)
    else:  # heart
        t = np.linspace(0, 2 * np.pi, n_round, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        pts = np.stack([x, y], -1)
        pts -= (pts.max(0) + pts.min(0)) / 2
        pts /= np.hypot(pts[:, 0], pts[:, 1]).max()
    a = np.deg2rad(shape.rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T


def _inside_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over the points, one pass per edge; ``x`` and ``y`` broadcast
    (a row of x and a column of y: the crossings are computed once per row)."""
    inside = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < x_at)
        xj, yj = xi, yi
    return inside


def pixel_grid(size_px: int, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions (x right, y up, in units of the CoC radius) of a ``size_px`` kernel."""
    s = (np.arange(size_px * supersample) + 0.5) / (size_px * supersample)
    c = 2.0 * s - 1.0
    return c[None, :], -c[:, None]


def _coverage(inside: np.ndarray, n: int) -> np.ndarray:
    return inside.reshape(n, SUPERSAMPLE, n, SUPERSAMPLE).mean(axis=(1, 3)).astype(np.float32)


def rasterize_polygon(points, size_px: int = KERNEL_SIZE_PX) -> np.ndarray:
    """The open fraction of each pixel inside the closed polygon ``points`` (K×2, x right, y
    up, in units of the CoC radius; even-odd rule), ``SUPERSAMPLE²`` sub-samples, float32."""
    n = int(size_px)
    x, y = pixel_grid(n, SUPERSAMPLE)
    return _coverage(_inside_polygon(x, y, np.asarray(points, dtype=np.float64)), n)


def rasterize(shape: ApertureShape, size_px: int = KERNEL_SIZE_PX) -> np.ndarray:
    """The open fraction of each pixel (``SUPERSAMPLE²`` sub-samples), float32 ``size_px²``."""
    if not MIN_KERNEL_PX <= int(size_px) <= MAX_KERNEL_PX:
        raise KernelError(f"kernel size must be {MIN_KERNEL_PX}-{MAX_KERNEL_PX} px, got {size_px}")
    if shape.name != "round":
        return rasterize_polygon(outline(shape), size_px)
    n = int(size_px)
    x, y = np.broadcast_arrays(*pixel_grid(n, SUPERSAMPLE))
    return _coverage(np.hypot(x, y) <= 1.0, n)


def cycles_kernel(
    blades: int, rotation_deg: float, ratio: float, size_px: int = KERNEL_SIZE_PX
) -> np.ndarray:
    """Cycles' own aperture (``aperture_blades``, ``aperture_rotation_deg``, ``aperture_ratio``)
    as a kernel: round for fewer than 3 blades, else the regular polygon with vertex ``k`` at
    angle ``rotation + π/N + 2πk/N`` from +x (counter-clockwise, y up: Cycles samples blade
    ``k``'s triangle around ``rotation + 2πk/N``, an edge's midpoint, so 5 blades at rotation 0
    point a vertex left; measured in tests/synth/test_aperture_shapes.py; the label
    ``polygonN@(rotation_deg + 180/N − 90)``, first vertex at the top). Anamorphic ``ratio`` r
    narrows the horizontal extent to 1/r: the open set is ``{(x, y) : (r·x, y) in the round or
    polygonal opening}``. A ratio that is not a finite number > 0 is a :class:`KernelError`."""
    r = float(ratio)
    if not (np.isfinite(r) and r > 0):
        raise KernelError(f"aperture_ratio must be a finite number > 0, got {ratio!r}")
    n = int(blades)
    if n < 3:
        if r == 1.0:
            return rasterize(ApertureShape("round"), size_px)
        m = int(size_px)
        x, y = np.broadcast_arrays(*pixel_grid(m, SUPERSAMPLE))
        return _coverage(np.hypot(r * x, y) <= 1.0, m)
    t = np.deg2rad(float(rotation_deg)) + np.pi / n + 2 * np.pi * np.arange(n) / n
    return rasterize_polygon(np.stack([np.cos(t) / r, np.sin(t)], -1), size_px)


def resample_square(a: np.ndarray, size_px: int) -> np.ndarray:
    """Area-average (or nearest, when enlarging) ``a`` to ``size_px²``; numpy only."""
    n = a.shape[0]
    if n == size_px:
        return a
    if n % size_px == 0:
        f = n // size_px
        return a.reshape(size_px, f, size_px, f).mean(axis=(1, 3))
    idx = ((np.arange(size_px * SUPERSAMPLE) + 0.5) * n / (size_px * SUPERSAMPLE)).astype(int)
    up = a[np.clip(idx, 0, n - 1)][:, np.clip(idx, 0, n - 1)]
    return up.reshape(size_px, SUPERSAMPLE, size_px, SUPERSAMPLE).mean(axis=(1, 3))


def kernel_from_array(image, source: str, size_px: int = KERNEL_SIZE_PX) -> np.ndarray:
    """A user kernel from a grey (H×W) or colour (H×W×C, mean of the colour channels) image.

    uint8 / uint16 are divided by their maximum, floats must be in [0, 1]. The image must be
    square and have an opening (a pixel at least half open); it is centred as given and scaled
    so that its farthest open pixel (from the image centre) touches the inscribed circle, then
    resampled to ``size_px``. Raises :class:`KernelError` naming ``source`` and the reason.
    """
    a = np.asarray(image)
    if a.size == 0:
        raise KernelError(f"{source}: the kernel image is empty")
    if np.issubdtype(a.dtype, np.integer):
        a = a / float(np.iinfo(a.dtype).max)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., :3].mean(-1) if a.shape[-1] != 2 else a[..., 0]
    if a.ndim != 2:
        raise KernelError(f"{source}: a kernel image must be 2-D, got shape {a.shape}")
    h, w = a.shape
    if h != w:
        raise KernelError(f"{source}: a kernel image must be square, got {w}x{h} px")
    if not MIN_KERNEL_PX <= h <= MAX_KERNEL_PX:
        raise KernelError(f"{source}: a kernel must be {MIN_KERNEL_PX}-{MAX_KERNEL_PX} px, got {h}")
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise KernelError(f"{source}: kernel values must be finite and in [0, 1]")
    open_px = a >= OPEN_THRESHOLD
    if not open_px.any():
        raise KernelError(f"{source}: the kernel has no opening (no pixel is at least half white)")
    # The farthest open pixel's far corner, in units of half the image width.
    x, y = pixel_grid(h)
    r = np.hypot(np.abs(x) + 1.0 / h, np.abs(y) + 1.0 / h)
    reach = float(r[open_px].max())
    # Sample the image at scale ``reach``: kernel position p reads the image at p * reach.
    n = int(size_px) * SUPERSAMPLE
    c = (2.0 * (np.arange(n) + 0.5) / n - 1.0) * reach
    idx = np.floor((c + 1.0) / 2.0 * h).astype(int)
    valid = (idx >= 0) & (idx < h)
    sub = a[np.clip(idx, 0, h - 1)][:, np.clip(idx, 0, h - 1)]
    sub = sub * (valid[:, None] & valid[None, :])
    out = sub.reshape(size_px, SUPERSAMPLE, size_px, SUPERSAMPLE).mean(axis=(1, 3))
    xs, ys = pixel_grid(int(size_px))
    out[np.hypot(xs, ys) > 1.0 + 1.0 / size_px] = 0.0  # the lens is round
    return out.astype(np.float32)


def validate_kernel(kernel, source: str = "kernel") -> np.ndarray:
    """A stored kernel as float32: square, 2-D, values in [0, 1], with an opening; else
    :class:`KernelError` (one line, naming ``source``)."""
    a = np.asarray(kernel, dtype=np.float64)
    if a.size == 0:
        raise KernelError(f"{source}: the kernel is empty")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise KernelError(f"{source}: a kernel must be a square 2-D array, got shape {a.shape}")
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise KernelError(f"{source}: kernel values must be finite and in [0, 1]")
    if not (a >= OPEN_THRESHOLD).any():
        raise KernelError(f"{source}: the kernel has no opening")
    return a.astype(np.float32)


def open_fraction(kernel) -> float:
    """Open area over the inscribed disc's area: the light let through relative to round."""
    a = np.asarray(kernel, dtype=np.float64)
    n = a.shape[0]
    return float(a.sum() * (2.0 / n) ** 2 / np.pi)


def light_loss_ev(kernel) -> float:
    """``−log2(open_fraction)``: the exposure (EV) that restores the round aperture's brightness."""
    return float(-np.log2(open_fraction(kernel)))


def normalised(kernel) -> np.ndarray:
    """The kernel divided by its sum (float64): a convolution with it keeps brightness."""
    a = np.asarray(kernel, dtype=np.float64)
    total = a.sum()
    if not total > 0:
        raise KernelError("the kernel has no opening")
    return a / total


def footprint(kernel, threshold: float = OPEN_THRESHOLD) -> np.ndarray:
    """Boolean mask of the pixels at least ``threshold`` of the kernel's maximum."""
    a = np.asarray(kernel, dtype=np.float64)
    return a >= threshold * a.max()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of the same shape (0 when both empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0
