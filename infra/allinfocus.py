"""Is a photo all in focus? A whole-frame sharpness test, shared by curate and synth's 2.5-D route.

Generative Refocusing rendered its bokeh pairs from all-in-focus (AIF) photos, filtered for
sharpness with a Laplacian. A shallow depth-of-field photo is no such source: blurring its
blurred background again teaches a model blur on blur. A single sharpness number cannot tell
the two apart (a sharp subject before a blurred background is as sharp, at its sharpest, as an
AIF photo), so the test looks at every part of the frame:

1. luma ``Y`` (0..255) of the image, split into square tiles of ``min(H, W) // grid`` px;
2. two bands from box filters applied twice (about Gaussian): ``hi = Y − B1(B1(Y))`` (radius 1)
   and ``mid = B1(B1(Y)) − B3(B3(Y))`` (radius 3); per tile, the mean squared ``hi`` and ``mid``;
3. a tile has *content* when its mean ``mid²`` is at least ``content_floor`` (2.0): flat sky or
   a blank wall says nothing about focus and is left out; a content tile is *sharp* when
   ``hi² / mid² >= sharp_ratio`` (0.25). A defocus blur of 2 px radius or more removes the
   ``hi`` band while the ``mid`` band survives, so the ratio falls to about 0.1-0.2;
4. ``sharp_fraction`` = sharp tiles / content tiles; the photo is all in focus when it is at
   least ``min_sharp_fraction`` (0.7) and at least ``min_content_fraction`` (0.05) of the frame
   has content.

Measured at a 512 px long edge (curate's analysis size, docs/curate.md): scikit-image's eight
photos score 0.79-1.00; the same photos with a blur that grows from 0 to K · 0.9 px across the
frame (K = 8 and 20 at 512 px) 0.00-0.49; a uniform 0.75 px blur keeps 0.57-1.00 (a light,
whole-frame softness is not defocus). Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 12
CONTENT_FLOOR = 2.0
SHARP_RATIO = 0.25
MIN_SHARP_FRACTION = 0.7
MIN_CONTENT_FRACTION = 0.05


@dataclass(frozen=True)
class FocusTest:
    """The measured tiles of one image (``sharp_fraction`` and ``content_fraction`` in [0, 1])."""

    sharp_fraction: float
    content_fraction: float
    tiles: int

    def all_in_focus(
        self,
        min_sharp_fraction: float = MIN_SHARP_FRACTION,
        min_content_fraction: float = MIN_CONTENT_FRACTION,
    ) -> bool:
        return (
            self.content_fraction >= min_content_fraction
            and self.sharp_fraction >= min_sharp_fraction
        )

    def reason(self, min_sharp_fraction: float = MIN_SHARP_FRACTION) -> str:
        """One line for a reject: why the frame is not a usable all-in-focus source."""
        if self.content_fraction < MIN_CONTENT_FRACTION:
            return (
                f"almost no detail to judge focus by ({self.content_fraction:.1%} of the frame): "
                "blurred all over, or blank"
            )
        return (
            f"only {self.sharp_fraction:.0%} of the detailed frame is sharp "
            f"(all in focus needs {min_sharp_fraction:.0%}): a shallow depth-of-field photo"
        )


def _box2(a: np.ndarray, r: int) -> np.ndarray:
    """A box filter of radius ``r`` applied twice per axis (edges replicated)."""
    for _ in range(2):
        for axis in (0, 1):
            pad = [(r, r) if i == axis else (0, 0) for i in range(2)]
            c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
            c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
            n = a.shape[axis]
            upper = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
            a = (upper - np.take(c, np.arange(n), axis=axis)) / (2 * r + 1)
    return a


def _tile_means(a: np.ndarray, tile_px: int) -> np.ndarray:
    rows, cols = a.shape[0] // tile_px, a.shape[1] // tile_px
    return a[: rows * tile_px, : cols * tile_px].reshape(rows, tile_px, cols, tile_px).mean((1, 3))


def focus_test(
    rgb: np.ndarray,
    grid: int = GRID,
    content_floor: float = CONTENT_FLOOR,
    sharp_ratio: float = SHARP_RATIO,
) -> FocusTest:
    """The whole-frame test of an H×W×3 (or H×W) image in 0..255 (module docstring)."""
    y = np.asarray(rgb, dtype=np.float64)
    if y.ndim == 3:
        y = y[..., :3] @ np.array([0.299, 0.587, 0.114])
    tile_px = max(8, min(y.shape) // max(1, grid))
    if min(y.shape) < tile_px:
        return FocusTest(0.0, 0.0, 0)
    g1 = _box2(y, 1)
    g3 = _box2(y, 3)
    hi = _tile_means((y - g1) ** 2, tile_px)
    mid = _tile_means((g1 - g3) ** 2, tile_px)
    content = mid >= content_floor
    sharp = content & (hi >= sharp_ratio * mid)
    n_content = int(content.sum())
    return FocusTest(
        sharp_fraction=float(sharp.sum() / n_content) if n_content else 0.0,
        content_fraction=float(content.mean()),
        tiles=int(content.size),
    )
