"""The conditions a network sees, one implementation for training, evaluation and inference.

DeblurNet sees the blurry image. BokehNet sees the all-in-focus image, the defocus map
(:func:`defocus_condition`: ``optics.defocus_level`` of the disparity at the focus plane,
``clip(K · |disp − disp_focus| / 100, 0, 1)`` computed in float64 and rounded once to float32,
3 channels, raw in [0, 1]) and, with ``model.shape_condition``, the aperture kernel as an image
(:func:`kernel_image`, centred, raw in [0, 1]; :func:`round_kernel` for a lens without one).
:func:`bokeh_conditions` puts them in the order the network takes them. The training samples
(``train.data.build``), the held-out evaluation and the benchmark (``train.evaluate``) and
``train refocus`` all call these, so the three can never disagree. Tensors are [C, H, W] for
one sample or [B, C, H, W] for a batch; RGB images are in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import optics


def defocus_condition(disparity: torch.Tensor, disp_focus, k: float) -> torch.Tensor:
    """The defocus map of a disparity ([1, H, W] -> [3, H, W], or [B, 1, H, W] -> [B, 3, H, W]
    with one ``disp_focus`` per image: a number or a [B] tensor), float32 in [0, 1]."""
    d = disparity.double()
    focus = torch.as_tensor(disp_focus, dtype=torch.float64)
    if d.dim() == 4:
        focus = focus.reshape(-1, 1, 1, 1)
    level = optics.defocus_level(d, focus, float(k)).float()
    return level.expand(*level.shape[:-3], 3, *level.shape[-2:]).contiguous()


def kernel_image(kernel: np.ndarray, height_px: int, width_px: int) -> torch.Tensor:
    """A square kernel (``optics.aperture`` conventions, white = open) as a condition image:
    float32 [3, H, W] in [0, 1], the kernel resized to ``min(H, W)`` px with area interpolation,
    replicated to 3 channels and centred in the frame (zero around it when H != W), so that
    ``train.backbones.prior`` reads it back from the centred square."""
    side = min(int(height_px), int(width_px))
    k = torch.from_numpy(np.require(kernel, np.float32, ["C", "W"]))[None, None]
    k = F.interpolate(k, (side, side), mode="area")[0].clamp(0.0, 1.0)
    out = torch.zeros(3, int(height_px), int(width_px))
    y0, x0 = (int(height_px) - side) // 2, (int(width_px) - side) // 2
    out[:, y0 : y0 + side, x0 : x0 + side] = k
    return out


def round_kernel() -> np.ndarray:
    """The round aperture: the kernel of a lens whose aperture is not known (a photo)."""
    from optics.aperture import parse_shape, rasterize

    return rasterize(parse_shape("round"))


def bokeh_conditions(
    image: torch.Tensor,
    disparity: torch.Tensor,
    disp_focus,
    k: float,
    kernel: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """BokehNet's conditions in its order: the sharp image, its defocus map at ``disp_focus``
    and ``k`` and, when given, the kernel image (:func:`kernel_image`, batched like ``image``)."""
    conds = [image, defocus_condition(disparity, disp_focus, k)]
    return conds if kernel is None else [*conds, kernel]
