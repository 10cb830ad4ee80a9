"""Validation images while training: a fixed handful of held-out samples through the current
weights, one strip per call (``eval.images_every``; ``train.loop`` calls it on rank 0). The
samples, chosen once per run, are ``eval.images`` held-out rows, each scene's first row before
any second one (a scene's renders sit next to each other), centre-cropped by
``train.data.feed.TrainData.eval_batches``. A strip has one row per sample and a two-line label
above each column; the columns are, for BokehNet, the all-in-focus input, the output at every
``(eval.image_focus, eval.image_k)`` pair (focus outer, K inner; the focus plane is that
quantile of the crop's finite disparity, the conditions from
``train.conditions.bokeh_conditions`` as in training and inference) and the true render (at the
row's own focus and K); for DeblurNet, the blurred input, the output and the all-in-focus truth.
Every output comes from
``train.objectives.generate`` with ``eval.sample_steps`` and one fixed seed
(:data:`VALIDATION_SEED`, the same noise for every setting), with the moving-average weights
when the run keeps them, inside ``torch.random.fork_rng``: strips of different steps differ only
by the weights, and training's random streams are untouched. Files:
``RUN/validation/step-NNNNNN.png``, written atomically with PIL.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from infra.files import atomic_write
from train.conditions import bokeh_conditions
from train.data.split import scene_key
from train.ema import averaged
from train.objectives import generate
from train.outputs import to_uint8

VALIDATION_SEED = 20_240_601  # the noise of every strip of every run
PAD_PX = 2  # white border around every tile
LINE_PX = 12  # one label line of PIL's default font
HEADER_PX = 2 * LINE_PX  # two label lines above the tiles
FOLDER = "validation"

Column = tuple[str, str, torch.Tensor]  # label line 1, label line 2, images [B, C, H, W]


def scenes_first(rows: list[dict]) -> list[dict]:
    """``rows`` with each scene's first row first (in order), then the others (in order): the
    held-out rows of a scene are next to each other, and a strip of renders of one scene would
    show one picture ``eval.images`` times."""
    first, rest, seen = [], [], set()
    for row in rows:
        key = scene_key(row)
        (rest if key in seen else first).append(row)
        seen.add(key)
    return first + rest


def validation_batch(data, images: int) -> dict:
    """``images`` held-out rows (training rows when none is held out), one per scene first
    (:func:`scenes_first`), as one batch of centre crops built by ``data.eval_batches``
    (``train.data.feed.TrainData``) with ``eval.batches = 1`` and ``eval.batch_size = images``."""
    cfg = data.cfg
    ev = cfg.eval.model_copy(update={"batches": 1, "batch_size": int(images)})
    rows = scenes_first(data.eval_rows or data.train_rows)[: int(images)]
    view = copy.copy(data)  # the same data; only what eval_batches reads changes
    view.cfg, view.eval_rows = cfg.model_copy(update={"eval": ev}), rows
    return view.eval_batches()[0]


def focus_planes(disparity: torch.Tensor, fallback: torch.Tensor, quantile: float) -> torch.Tensor:
    """``disp_focus`` per sample ([B], float64): the ``quantile`` of the crop's finite disparity
    ([B, 1, H, W], 1/m), or ``fallback[b]`` (its own focus) where none is finite."""
    planes = []
    for d, own in zip(disparity, fallback, strict=True):
        values = d[torch.isfinite(d)].double().numpy()
        planes.append(float(np.quantile(values, quantile)) if values.size else float(own))
    return torch.tensor(planes, dtype=torch.float64)


def settings_grid(ev) -> list[tuple[float, float]]:
    """BokehNet's ``(focus quantile, K)`` pairs of an ``EvalConfig``: focus outer, K inner."""
    return [(float(q), float(k)) for q in ev.image_focus for k in ev.image_k]


def bokeh_columns(denoiser, codec, batch: dict, ev, device) -> list[Column]:
    """The AIF input, one output per :func:`settings_grid` pair, the true render."""
    aif, disparity, extra = batch["cond"][0], batch["disparity"], batch["cond"][2:]
    columns: list[Column] = [("input", "AIF", aif)]
    for q, k in settings_grid(ev):
        focus = focus_planes(disparity, batch["disp_focus"], q)
        conds = bokeh_conditions(aif, disparity, focus, k, *extra)
        out = generate(
            denoiser, codec, [c.to(device) for c in conds], ev.sample_steps, VALIDATION_SEED
        )
        columns.append((f"K {k:g}", f"q {q:g}", out.cpu()))
    columns.append(("truth", "DoF", batch["target"]))
    return columns


def deblur_columns(denoiser, codec, batch: dict, ev, device) -> list[Column]:
    """The blurred input, the output, the all-in-focus truth."""
    blurred = batch["cond"][0]
    out = generate(denoiser, codec, [blurred.to(device)], ev.sample_steps, VALIDATION_SEED)
    return [
        ("input", "blurred", blurred),
        ("output", "", out.cpu()),
        ("truth", "AIF", batch["target"]),
    ]


def strip_size_px(rows: int, columns: int, height_px: int, width_px: int) -> tuple[int, int]:
    """``(height, width)`` of a strip of ``rows × columns`` tiles of ``height_px × width_px``."""
    return (
        HEADER_PX + PAD_PX + rows * (height_px + PAD_PX),
        PAD_PX + columns * (width_px + PAD_PX),
    )


def compose_strip(columns: list[Column]) -> np.ndarray:
    """The strip (uint8 H×W×3): tile ``(row r, column c)`` at ``x = PAD + c · (w + PAD)``,
    ``y = HEADER + PAD + r · (h + PAD)`` on white, each column's two label lines above it
    (cut to the tile's width). Images in [-1, 1]; all columns of one size."""
    from PIL import Image, ImageDraw

    rows = columns[0][2].shape[0]
    h, w = columns[0][2].shape[-2:]
    if any(img.shape[0] != rows or tuple(img.shape[-2:]) != (h, w) for _, _, img in columns):
        raise ValueError(f"validation strip: every column must hold {rows} images of {h}×{w}")
    height, width = strip_size_px(rows, len(columns), h, w)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for c, (_, _, images) in enumerate(columns):
        x = PAD_PX + c * (w + PAD_PX)
        for r in range(rows):
            y = HEADER_PX + PAD_PX + r * (h + PAD_PX)
            canvas[y : y + h, x : x + w] = to_uint8(images[r])
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for c, (first, second, _) in enumerate(columns):
        for line, text in enumerate((first, second)):
            while text and draw.textlength(text) > w:
                text = text[:-1]
            draw.text((PAD_PX + c * (w + PAD_PX), line * LINE_PX), text, fill=(0, 0, 0))
    return np.asarray(image)


def strip_path(out: Path, step: int) -> Path:
    return Path(out) / FOLDER / f"step-{step:06d}.png"


def write_png(image_hwc_u8: np.ndarray, path: Path) -> Path:
    """``image_hwc_u8`` as a PNG at ``path``, atomically (its folder created)."""
    from PIL import Image

    atomic_write(path, lambda p: Image.fromarray(image_hwc_u8).save(p, format="PNG"))
    return path


def _rng_devices(device) -> list[int]:
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


class ValidationImages:
    """The fixed samples of one run and the strips of its weights (``eval.images_*``)."""

    def __init__(self, cfg, data, out: Path):
        self.cfg, self.out = cfg, Path(out)
        self.batch = validation_batch(data, cfg.eval.images)

    @classmethod
    def for_run(cls, cfg, data, out: Path, main: bool) -> ValidationImages | None:
        """The run's validation images on the main rank with ``eval.images_every > 0``."""
        return cls(cfg, data, out) if main and cfg.eval.images_every > 0 else None

    def due(self, done: int, steps: int) -> bool:
        """After every ``eval.images_every`` steps and after the last one."""
        return done % self.cfg.eval.images_every == 0 or done == steps

    @torch.no_grad()
    def render(self, built, ema=None, device="cpu") -> np.ndarray:
        """The strip of ``built`` (``train.model.Built``; ``ema``'s averaged weights when
        given), without touching torch's global random state or the model's mode."""
        denoiser, make = built.denoiser, bokeh_columns
        if self.cfg.network == "deblurnet":
            make = deblur_columns
        was_training = denoiser.training
        with torch.random.fork_rng(devices=_rng_devices(device)), averaged(ema, denoiser):
            torch.manual_seed(VALIDATION_SEED)  # a VAE codec's encode samples the global stream
            denoiser.eval()
            try:
                columns = make(denoiser, built.codec, self.batch, self.cfg.eval, device)
            finally:
                denoiser.train(was_training)
        return compose_strip(columns)

    def write(self, built, ema, device, step: int) -> np.ndarray:
        """Render, write ``RUN/validation/step-NNNNNN.png`` and return the strip."""
        strip = self.render(built, ema, device)
        write_png(strip, strip_path(self.out, step))
        return strip
