"""The methods the benchmark scores, each as ``method(conditions) -> image``: a trained run
(:class:`Model`, Euler sampling at the run's eval steps) and the classical reference renderer
(:func:`reference`, ``optics.render_bokeh`` in linear light). Images are [1, 3, H, W] in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import optics
from train.conditions import bokeh_conditions
from train.evaluate.metrics import unit_hwc
from train.evaluate.scenes import BenchmarkError
from train.objectives import generate
from train.runs import load_run

REFERENCE_LAYER_STEP_PX = 0.25  # the reference's layer grid (optics.render_bokeh's default: 1)


class Model:
    """A trained run as ``model(conditions) -> image`` (Euler sampling, the run's eval steps);
    a BokehNet also as :meth:`bokeh`, from the scene's quantities. ``label``: its row in the
    benchmark's tables."""

    label = "bokehnet"

    def __init__(self, run: str | Path, network: str, steps: int = 0):
        try:
            self.cfg, self.built = load_run(run)
        except (FileNotFoundError, ValueError) as e:
            raise BenchmarkError(str(e)) from None
        if self.cfg.network != network:
            raise BenchmarkError(f"{run}: a {self.cfg.network} run, expected a {network} run")
        self.steps = steps or self.cfg.eval.sample_steps

    @torch.no_grad()
    def __call__(self, conds: list[torch.Tensor]) -> torch.Tensor:
        """The output for the condition images ``conds`` (``train.conditions``), seed 0."""
        return generate(self.built.denoiser, self.built.codec, conds, self.steps, seed=0)

    def bokeh(
        self, image, disparity, disp_focus: float, k: float, kernel=None, key=None
    ) -> torch.Tensor:
        """A BokehNet's rendering of ``image`` focused at ``disp_focus`` with blur ``k``;
        ``kernel`` (the aperture's condition image) is a condition when the model takes one
        (``model.shape_condition``). ``key``: the output's row id, which a predictions folder
        looks up (``train.evaluate.predicted``) and a model does not need."""
        kernel = kernel if self.built.n_conds == 3 else None
        return self(bokeh_conditions(image, disparity, disp_focus, k, kernel))


def reference(aif: torch.Tensor, disparity: torch.Tensor, k: float, disp_focus: float, kernel=None):
    """``optics.render_bokeh`` on tensors ([1, 3, H, W] in [-1, 1] in and out), blurring in
    linear light (the images are sRGB-encoded renders and photos); ``kernel``: an aperture
    kernel (``optics.aperture`` conventions) instead of the disc. Every layer's aperture is
    band-limited (``band_limited=True`` on a :data:`REFERENCE_LAYER_STEP_PX` layer grid): the
    set's K sweeps start at K = 0.5, where most of a background's blur radii are under a pixel,
    and the AIF's pixels already hold the render's box pixel filter, which the anti-aliased disc
    would add a second time at every radius (docs/benchmark.md, "Calibration")."""
    img = unit_hwc(aif)
    disp = disparity[0, 0].double().numpy()
    out = optics.render_bokeh(
        img,
        disp,
        k,
        disp_focus,
        kernel=kernel,
        srgb=True,
        band_limited=True,
        layer_step_px=REFERENCE_LAYER_STEP_PX,
    )
    return torch.from_numpy(np.asarray(out) * 2.0 - 1.0).permute(2, 0, 1)[None].float()
