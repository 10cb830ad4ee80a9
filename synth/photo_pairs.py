"""The 2.5-D route's core: bokeh pairs from an all-in-focus image and its depth, no Blender.

This is how Generative Refocusing made its BokehNet stage-1 pairs: an all-in-focus (AIF) photo,
a depth map, a random focus plane and a random K, through a classical renderer
(``optics.render_bokeh``, layered, near over far, in linear light). Per source image:

- size: shrunk (box filter, never enlarged) so that its long edge is at most
  ``photos.long_edge_px``; the depth map follows with nearest neighbour (no phantom depths at
  edges). K refers to that output width (docs/architecture.md section 3);
- per pair, :func:`sample_params`: the focus disparity is that of a uniformly drawn pixel with a
  finite depth (focus lands on content in proportion to its area); K is log-uniform in
  ``photos.k`` at ``photos.k_width_px``, rescaled to the output width; the aperture is drawn as
  synth draws a scene's: a shaped source (``shaped_scene_probability``) looks through
  ``aperture.shapes`` on every pair, else each pair is round (``round_probability``) or a
  polygon of ``aperture.blades`` at a uniform ``rotation_deg`` (anamorphic and shape rotation
  are not drawn here);
- :func:`render_pair`: ``optics.render_bokeh`` in linear light (``srgb=True``), its clipped
  highlights optionally brightened (``photos.highlight_threshold`` / ``highlight_gain``),
  band-limited apertures on a ``photos.layer_step_px`` layer grid, clipped and encoded back;
- labels as the path-traced set's: the signed CoC diameter map in px (``2 ·`` the renderer's
  signed radius, so positive behind the focus plane as Cycles' convention), K, ``disp_focus``,
  and a camera that gives exactly this K (:func:`f_number_for_k`: the photo's focal length and
  sensor from EXIF when known, else 50 mm on 36 mm).

A source that is itself a path-traced scene (a ``synthetic_pairs`` manifest) can keep its
renders' own K, focus and aperture (:func:`params_from_row`): the twin set, in which only the
renderer differs. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import optics
from optics.aperture import cycles_kernel

RENDER_ENGINE = "optics.render_bokeh"  # synthetic_pairs.render_engine
DEFAULT_FOCAL_LENGTH_MM = 50.0  # a photo without EXIF focal length or sensor
DEFAULT_SENSOR_WIDTH_MM = 36.0


@dataclass(frozen=True)
class PairParams:
    """One pair's draw: the focus disparity (1/m), K at the output width, and the aperture:
    Cycles-style ``blades`` (0: round) with ``rotation_deg`` and ``ratio``, or a ``shape``
    label (``synth.kernels.kernel_for``) when not None."""

    disp_focus: float
    k: float
    blades: int = 0
    rotation_deg: float = 0.0
    ratio: float = 1.0
    shape: str | None = None


def output_size(width_px: int, height_px: int, long_edge_px: int) -> tuple[int, int]:
    """``(width, height)`` with the long edge at most ``long_edge_px`` (never enlarged)."""
    scale = min(1.0, long_edge_px / max(width_px, height_px))
    return max(1, round(width_px * scale)), max(1, round(height_px * scale))


def resize_rgb(image: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """A box-filtered shrink of a uint8 RGB image (Pillow), the identity at its own size."""
    if image.shape[1] == width_px and image.shape[0] == height_px:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width_px, height_px), Image.BOX))


def resize_depth(depth_m: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Nearest-neighbour resize of a depth map (pixel centres), float32."""
    from infra.depth_model import resize_nearest

    return resize_nearest(np.asarray(depth_m, np.float32), height_px, width_px)


def sample_params(rng: np.random.Generator, disparity: np.ndarray, width_px: int, cfg) -> list:
    """``photos.pairs_per_photo`` draws of :class:`PairParams` for one source (module docstring);
    ``cfg`` is the whole ``SynthConfig``. The disparity map must hold a finite depth somewhere."""
    p, a = cfg.photos, cfg.aperture
    valid = disparity[disparity > 0]
    if valid.size == 0:
        raise ValueError("no pixel with a finite depth to focus on")
    shaped = bool(a.shapes) and rng.random() < a.shaped_scene_probability
    lo, hi = np.log(p.k[0]), np.log(p.k[1])
    out = []
    for i in range(p.pairs_per_photo):
        disp_focus = float(valid[rng.integers(valid.size)])
        k = float(np.exp(rng.uniform(lo, hi))) * width_px / p.k_width_px
        if shaped:
            order = a.shape_order == "cycle"
            shape = a.shapes[i % len(a.shapes)] if order else a.shapes[rng.integers(len(a.shapes))]
            out.append(PairParams(disp_focus, k, shape=str(shape)))
        elif rng.random() < a.round_probability:
            out.append(PairParams(disp_focus, k))
        else:
            blades = int(a.blades[rng.integers(len(a.blades))])
            rotation = float(rng.uniform(*a.rotation_deg))
            out.append(PairParams(disp_focus, k, blades=blades, rotation_deg=rotation))
    return out


def params_from_row(row: dict, width_px: int) -> PairParams:
    """A path-traced render's own focus, K (rescaled to ``width_px``) and aperture."""
    k = float(optics.rescale_k(row["k_genrefocus"], row["k_ref_width_px"], width_px))
    return PairParams(
        disp_focus=float(row["disp_focus"]),
        k=k,
        blades=int(row.get("aperture_blades") or 0),
        rotation_deg=float(row.get("aperture_rotation_deg") or 0.0),
        ratio=float(row.get("aperture_ratio") or 1.0),
        shape=row.get("aperture_shape_id"),
    )


def pair_kernel(params: PairParams, kernels: dict | None = None) -> np.ndarray | None:
    """The aperture kernel the renderer blurs with: None for a round aperture of ratio 1 (the
    renderer's own disc), else the shape's or Cycles' polygon / anamorphic opening."""
    if params.shape and kernels and params.shape in kernels:
        return kernels[params.shape]
    if params.shape:
        from synth.kernels import kernel_for

        return kernel_for(params.shape, kernels)
    if params.blades < 3 and params.ratio == 1.0:
        return None
    return cycles_kernel(params.blades, params.rotation_deg, params.ratio)


def render_pair(
    aif_u8: np.ndarray, disparity: np.ndarray, params: PairParams, kernel, cfg_photos
) -> np.ndarray:
    """The bokeh render (uint8 sRGB) of one pair: linear light, highlights boosted, band-limited
    layered blur, clipped to white (module docstring)."""
    return optics.render_bokeh(
        aif_u8,
        disparity,
        params.k,
        params.disp_focus,
        kernel=kernel,
        srgb=True,
        band_limited=True,
        layer_step_px=cfg_photos.layer_step_px,
        highlight_gain=cfg_photos.highlight_gain,
        highlight_threshold=cfg_photos.highlight_threshold,
    )


def coc_map_px(disparity: np.ndarray, params: PairParams) -> np.ndarray:
    """Signed CoC diameter in px: twice the renderer's signed radius (clipped at 100 px),
    positive behind the focus plane (float32)."""
    return (2.0 * optics.signed_coc_radius_px(disparity, params.disp_focus, params.k)).astype(
        np.float32
    )


def f_number_for_k(k: float, width_px: int, focal_length_mm: float, sensor_width_mm: float):
    """The f-number that gives ``k`` on this lens and sensor (the inverse of
    ``optics.k_synthetic``: ``N = f² · W / (2000 · K · sensor_w)``)."""
    return focal_length_mm**2 * width_px / (2000.0 * k * sensor_width_mm)
