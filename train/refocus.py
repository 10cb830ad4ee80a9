"""Inference: refocus one photo with a trained DeblurNet and BokehNet.

photo -> DeblurNet (all-in-focus) -> depth (a local depth model run on the all-in-focus image,
as in training's real-photo route, or a given .npy) -> disparity ->
``disp_focus`` = median disparity around the chosen focus point -> defocus map
``clip(K · |disp − disp_focus| / 100, 0, 1)`` -> BokehNet -> the refocused photo. ``K`` refers to
the working image width (the image is resized so its sides are multiples of the model's
granularity and its long edge at most the training crop times four). A BokehNet trained with
``model.shape_condition`` also takes the aperture kernel (``aperture``: a shape label or a PNG,
``train.data.aperture.kernel_from_text``; ``round`` when not given).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import optics
from train.checkpoint import checkpoint_of
from train.conditions import bokeh_conditions, kernel_image
from train.objectives import generate
from train.runs import load_run, read_run_config, run_folder


def deblur_function(run: str | Path, steps: int = 0):
    """A DeblurNet run as ``fn(x [1,3,H,W] in [-1,1]) -> same``, any H and W (reflect-padded to
    the model's granularity), with ``fn.deblur_id`` naming the checkpoint for caches."""
    import hashlib

    cfg, built = load_run(run)
    gran = cfg.granularity_px
    ckpt = checkpoint_of(run)
    n_steps = steps or cfg.eval.sample_steps

    def fn(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % gran, (-w) % gran
        xp = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        return generate(built.denoiser, built.codec, [xp], n_steps, seed=0)[..., :h, :w]

    fn.deblur_id = hashlib.sha256(f"{Path(ckpt).resolve()}|{n_steps}".encode()).hexdigest()[:16]
    return fn


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return ((t[0].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)


def refocus(
    deblur_run,
    bokeh_run,
    image: np.ndarray,
    focus_points: list[tuple[float, float]],
    k: float | None,
    depth_m: np.ndarray | None = None,
    depth_model: str | None = None,
    steps: int = 0,
    aperture: str | None = None,
    beyond_training: bool = False,
) -> dict:
    """Refocus ``image`` at each ``(x, y)`` in ``focus_points`` (fractions of width/height).

    The runs are loaded, the all-in-focus image and the depth computed once; only the defocus
    map and BokehNet run per focus point. ``aperture`` (a BokehNet with the shape condition
    only; default ``round`` for one) names the kernel (``train.data.aperture.kernel_from_text``).
    Returns ``images`` (one per point), ``aif``, ``disp_focus`` (per point), the working
    ``size`` and ``k``.

    A K that blurs some pixel more than the BokehNet run was trained to (``blur_max_px`` of its
    checkpoint: the largest blur radius of its training targets, px at the network's input) is
    refused in one line unless ``beyond_training`` (past it, a tiny BokehNet draws speckles
    along thin structures); ``k=None`` takes the largest K within it for every point. Runs
    trained before the record are not checked.
    """
    from train.data.aperture import kernel_from_text

    _check_numbers(focus_points, 0.0 if k is None else k)
    kernel = None if aperture is None else kernel_from_text(aperture)
    cfg_b, bokeh = load_run(bokeh_run)
    if kernel is not None and not cfg_b.model.shape_condition:
        raise ValueError(
            f"{bokeh_run}: this BokehNet was trained without model.shape_condition; "
            "leave --aperture out"
        )
    if cfg_b.model.shape_condition and kernel is None:
        kernel = kernel_from_text("round")
    cfg_d, deblur = load_run(deblur_run)
    gran = max(cfg_d.granularity_px, cfg_b.granularity_px)
    h, w = image.shape[:2]
    scale = min(1.0, cfg_b.data.resolution_px * 4 / max(h, w))
    nh, nw = (
        max(gran, int(round(h * scale / gran)) * gran),
        max(gran, int(round(w * scale / gran)) * gran),
    )
    img = np.array(Image.fromarray(image).resize((nw, nh), Image.BICUBIC))
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    aif = generate(deblur.denoiser, deblur.codec, [x], steps or cfg_d.eval.sample_steps, seed=0)
    if depth_m is None:  # on the all-in-focus image, as the real-photo route of training does:
        from train.data.depth import TransformersDepth  # defocus blur misleads depth models

        depth_m = TransformersDepth(depth_model)(_to_uint8(aif))
    depth = np.asarray(Image.fromarray(depth_m.astype(np.float32)).resize((nw, nh), Image.NEAREST))
    disp = optics.disparity_from_depth(depth)
    disp_t = torch.from_numpy(disp.astype(np.float32))[None, None]
    kernel_img = None if kernel is None else kernel_image(kernel, nh, nw)[None]
    r = max(1, min(nw, nh) // 32)
    focus_disps = []
    for fx, fy in focus_points:
        cx, cy = int(fx * (nw - 1)), int(fy * (nh - 1))
        window = disp[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1]
        focus_disps.append(float(np.median(window)))
    k = trained_k(k, disp, focus_disps, bokeh.trained_blur_max_px, bokeh_run, beyond_training)
    images = []
    for disp_focus in focus_disps:
        conds = bokeh_conditions(aif, disp_t, disp_focus, k, kernel_img)
        out = generate(bokeh.denoiser, bokeh.codec, conds, steps or cfg_b.eval.sample_steps, seed=0)
        images.append(_to_uint8(out))
    return {
        "images": images,
        "aif": _to_uint8(aif),
        "disp_focus": focus_disps,
        "size": (nw, nh),
        "k": k,
    }


def trained_k(k, disp, focus_disps, trained_px, run, beyond_training: bool) -> float:
    """``k`` when no focus point's blur at it passes the run's trained blur radius
    ``trained_px`` (see :func:`refocus`); for ``k=None`` the largest such K."""
    spread = max(float(np.max(np.abs(disp - df))) for df in focus_disps)  # 1/m
    if k is None:
        if not trained_px:
            raise ValueError(f"{run}: no trained blur radius recorded; give K")
        return float(trained_px) / spread if spread > 0 else 0.0
    need = k * spread
    if trained_px and need > float(trained_px) * (1 + 1e-6) and not beyond_training:
        raise ValueError(
            f"K {k:g} blurs up to {need:.1f} px at the working size, past the {trained_px:.1f} px "
            f"{run} was trained to (K <= {trained_px / spread:.3g} here); "
            "pass --beyond-training to render it anyway"
        )
    return float(k)


def _check_numbers(focus_points: list[tuple[float, float]], k: float) -> None:
    if not (math.isfinite(k) and k >= 0):
        raise ValueError(f"K must be a finite number >= 0, got {k!r}")
    for point in focus_points:
        if not all(math.isfinite(v) and 0 <= v <= 1 for v in point):
            raise ValueError(f"focus point {tuple(point)}: x and y must be in [0, 1]")


def read_depth(path: str, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A ``--depth`` file: a 2-D ``.npy`` of planar metres (real numbers; ``inf`` is the
    background; at least one finite depth, none NaN, zero or negative), with the image's aspect
    ratio within 2 % when ``image_shape`` (H, W) is given (it is resized to the working size).
    Read through the shared rule (regular file, size cap); ``ValueError`` naming the file."""
    from infra.npy import npy_from_bytes
    from infra.uri import read_bytes

    try:
        data = read_bytes(path)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the depth map ({e.strerror or e})") from None
    try:
        depth = npy_from_bytes(data, path)
    except ValueError as e:
        raise ValueError(f"{path}: not a .npy depth map ({str(e)[len(path) + 2 :]})") from None
    why = optics.depth_problem(depth)
    if why:
        raise ValueError(f"{path}: {why}")
    if image_shape is not None:
        (h, w), (dh, dw) = image_shape, depth.shape
        if abs(dw / dh - w / h) > 0.02 * (w / h):
            raise ValueError(
                f"{path}: depth map {dw}x{dh} does not have the image's aspect ({w}x{h})"
            )
    return np.asarray(depth, np.float32)


OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


def check_out(out: str, inputs: tuple = ()) -> None:
    """Refuse an ``--out`` that cannot be written before any model runs: a known image suffix,
    an existing folder where a file can be created (tried: permission bits say nothing for
    root, and ``/sys`` or ``/proc`` refuse whatever they say), the all-in-focus sibling
    ``<stem>_aif.png`` not a folder, and neither output one of the ``inputs`` (``--image``,
    ``--depth``), which they would overwrite."""
    import tempfile

    path = Path(out)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"--out {out}: name an image file ({', '.join(OUT_SUFFIXES)})")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"--out {out}: no such folder {folder}")
    aif = aif_path(path)
    for target in (path, aif):
        if target.exists() and not target.is_file():
            raise ValueError(f"--out {out}: cannot write {target} (not a file)")
        for given in inputs:
            if given and target.exists() and Path(given).exists() and target.samefile(given):
                raise ValueError(f"--out {out}: would overwrite the input {given}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".refocus-", suffix=".probe"):
            pass
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write in {folder} ({e.strerror or e})") from None
    for target in (path, aif):
        if target.exists() and not os.access(target, os.W_OK):
            raise ValueError(f"--out {out}: {target} exists and is not writable")


def aif_path(out: Path) -> Path:
    """Where ``refocus`` writes the all-in-focus image beside ``--out``."""
    out = Path(out)
    return out.with_name(f"{out.with_suffix('').name}_aif.png")


def _check_networks(deblur_run, bokeh_run) -> None:
    """``--deblur`` must be a DeblurNet run and ``--bokeh`` a BokehNet run (swapped ones are
    the usual slip): read from each run's config.json before anything is built."""
    for flag, run, want in (
        ("--deblur", deblur_run, "deblurnet"),
        ("--bokeh", bokeh_run, "bokehnet"),
    ):
        try:
            network = read_run_config(run_folder(run)).get("network", "deblurnet")
        except (OSError, ValueError):
            continue  # load_run says what is wrong with the folder
        if network != want:
            raise ValueError(f"{flag} {run}: a {network} run; {flag} takes a {want} run")


def refocus_cli(a) -> int:
    fx, fy = a.focus  # range-checked by the parser (train.cli.focus_point)
    try:
        check_out(a.out, (a.image, a.depth))
        _check_networks(a.deblur, a.bokeh)
        from infra.images import PhotoError, read_photo

        try:
            image = read_photo(a.image)
        except PhotoError as e:
            raise ValueError(str(e)) from None
        depth = read_depth(a.depth, image.shape[:2]) if a.depth else None
        res = refocus(
            a.deblur,
            a.bokeh,
            image,
            [(fx, fy)],
            a.k,
            depth,
            a.depth_model,
            a.steps,
            aperture=a.aperture,
            beyond_training=a.beyond_training,
        )
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:  # checked before the models ran; a disk that fills up meanwhile is still one line
        Image.fromarray(res["images"][0]).save(a.out)
        Image.fromarray(res["aif"]).save(aif_path(a.out))
    except OSError as e:
        print(f"error: --out {a.out}: cannot write ({e.strerror or e})", file=sys.stderr)
        return 1
    print(
        f"refocused {a.image} at ({fx:.2f}, {fy:.2f}), K = {a.k:g} at {res['size'][0]} px wide "
        f"(disp_focus {res['disp_focus'][0]:.3f} 1/m) -> {a.out} (all-in-focus: {aif_path(a.out)})"
    )
    return 0
