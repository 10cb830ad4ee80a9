"""Render one scene's passes with Cycles: depth (Z), all-in-focus, and each DoF render.

* depth: DoF off, 1 spp, a 0.01 px pixel filter (the Z pass comes from the first sample only and
  is wrong at 8.6 % of pixels with DoF on, docs/architecture.md section 5); background (Cycles
  writes 1e10) -> inf;
* all-in-focus: DoF off, ``samples`` spp;
* DoF renders: thin-lens DoF with the spec's f-number, focus distance, blades, rotation, ratio,
  ``samples`` spp (a K sweep's renders ``sweep_samples`` when set, ``synth.settings.dof_samples``);
  a DoF render with an ``aperture`` shape gets the shaped occluder at the lens
  (:mod:`synth.blender.aperture`, light loss compensated, ``samples / open_fraction`` samples so
  that the noise matches a round render's) and its kernel as ``dof_KK_kernel.png``;
  with ``exact_highlights`` the emitters' discs are computed, not path traced
  (:mod:`synth.blender.splat`).

Images are saved as 8-bit sRGB PNG through the "Standard" view transform (and optionally linear
half-float EXR). ``timings`` separates the time inside Cycles' render calls from the rest.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
import OpenEXR

from infra.images import write_kernel_png
from synth.blender import splat
from synth.blender.aperture import add_occluder, hide_kernel, show_kernel
from synth.blender.build import build_scene
from synth.blender.compat import configure_device, redirect_native_stdout
from synth.exposure import exposure_ev
from synth.kernels import kernel_for
from synth.settings import RenderSettings, dof_samples
from synth.spec import DofSpec, SceneSpec

BACKGROUND_Z = 1e9  # Cycles writes 1e10 where a ray escapes to the world


@dataclass
class RenderResult:
    depth_m: np.ndarray  # float32 H×W planar depth, inf for background
    files: dict[str, str]  # name -> file name inside the output folder
    timings_s: dict[str, float] = field(default_factory=dict)
    device: str = "CPU"
    exposure_ev: float = 0.0  # view-transform exposure, the same for every render of the scene


def _configure(scene, settings: RenderSettings) -> None:
    c = scene.cycles
    c.use_light_tree = settings.light_tree
    c.use_adaptive_sampling = settings.adaptive_sampling
    c.denoiser = "OPENIMAGEDENOISE"
    c.pixel_filter_type = settings.pixel_filter.upper()  # the AIF and DoF passes' (width per pass)
    scene.render.threads_mode = "FIXED" if settings.threads else "AUTO"
    if settings.threads:
        scene.render.threads = settings.threads
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.display_settings.display_device = "sRGB"
    scene.view_layers[0].use_pass_z = True


def _set_pass(scene, cam, samples: int, filter_px: float, denoise: bool, dof: DofSpec | None):
    scene.cycles.samples = samples
    scene.cycles.use_denoising = denoise
    scene.cycles.filter_width = filter_px
    scene.render.filter_size = filter_px
    d = cam.data.dof
    d.use_dof = dof is not None
    if dof is not None:
        d.focus_distance = dof.focus_distance_m
        d.aperture_fstop = dof.f_number
        d.aperture_blades = dof.blades
        d.aperture_rotation = math.radians(dof.rotation_deg)
        d.aperture_ratio = dof.ratio


def _render(scene, timings: dict, key: str, log_path: str | None) -> None:
    t0 = time.perf_counter()
    with redirect_native_stdout(log_path):
        bpy.ops.render.render()
    timings[key] = time.perf_counter() - t0


def _save(scene, path: Path, fmt: str) -> None:
    s = scene.render.image_settings
    if fmt == "PNG":
        s.file_format, s.color_mode, s.color_depth, s.compression = "PNG", "RGB", "8", 15
    elif fmt == "EXR_HALF":
        s.file_format, s.color_mode, s.color_depth = "OPEN_EXR", "RGB", "16"
        s.exr_codec = "ZIP"
    elif fmt == "EXR_FLOAT":
        s.file_format, s.color_mode, s.color_depth = "OPEN_EXR", "RGB", "32"
        s.exr_codec = "ZIP"
    elif fmt == "EXR_MULTILAYER":
        s.file_format, s.color_depth = "OPEN_EXR_MULTILAYER", "32"
        s.exr_codec = "ZIP"
    bpy.data.images["Render Result"].save_render(str(path), scene=scene)


def read_depth_exr(path: Path) -> np.ndarray:
    """The planar depth (``*.Depth.Z`` channel) of a multilayer EXR, background as inf."""
    with OpenEXR.File(str(path)) as f:
        channels = f.parts[0].channels
        names = [k for k in channels if k.endswith("Depth.Z") or k == "Z"]
        if not names:
            raise RuntimeError(f"{path}: no Depth.Z channel (found {sorted(channels)})")
        z = np.array(channels[names[0]].pixels, dtype=np.float32)
    z[z >= BACKGROUND_Z] = np.inf
    return z


def auto_exposure(scene, out_dir: Path, night: bool, day_clip_percent: float) -> float:
    """Set one exposure for the scene from the AIF render's linear luminance
    (:func:`synth.exposure.exposure_ev`). It is applied by the view transform when saving, so
    every render of the scene shares it."""
    tmp = out_dir / "_aif_linear.exr"
    _save(scene, tmp, "EXR_HALF")
    with OpenEXR.File(str(tmp)) as f:
        ch = f.parts[0].channels
        rgb = (
            [np.asarray(ch[k].pixels, dtype=np.float32) for k in ("R", "G", "B")]
            if "R" in ch
            else np.moveaxis(np.asarray(ch["RGB"].pixels, dtype=np.float32), -1, 0)
        )
    os.unlink(tmp)
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    ev = exposure_ev(lum, night, day_clip_percent)
    scene.view_settings.exposure = ev
    return ev


def render_scene(
    spec: SceneSpec,
    out_dir: Path,
    settings: RenderSettings,
    textures_dir: Path | None = None,
    photos=None,
    kernels: dict | None = None,
) -> RenderResult:
    """Build and render every pass of ``spec`` into ``out_dir``; returns depth and file names."""
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scene, cam = build_scene(spec, textures_dir, photos)
    device = configure_device(scene, settings.device)
    _configure(scene, settings)
    scene.cycles.seed = spec.scene_id % (2**31)
    timings["build"] = time.perf_counter() - t0
    files: dict[str, str] = {}

    occluder = add_occluder(scene.collection) if any(d.aperture for d in spec.dof) else None
    _set_pass(scene, cam, samples=1, filter_px=0.01, denoise=False, dof=None)
    _render(scene, timings, "render_depth", settings.log_path)
    tmp = out_dir / "_depth.exr"
    _save(scene, tmp, "EXR_MULTILAYER")
    depth = read_depth_exr(tmp)
    os.unlink(tmp)

    _set_pass(scene, cam, settings.samples, settings.filter_width_px, settings.denoise, dof=None)
    _render(scene, timings, "render_aif", settings.log_path)
    night = bool(spec.notes.get("night"))
    ev = auto_exposure(scene, out_dir, night, settings.day_clip_percent)
    files["aif"] = "aif.png"
    _save(scene, out_dir / files["aif"], "PNG")
    if settings.exr:
        files["aif_exr"] = "aif.exr"
        _save(scene, out_dir / files["aif_exr"], "EXR_HALF")

    splat.set_camera_black(settings.exact_highlights)
    tris = splat.scene_triangles(scene, spec) if settings.exact_highlights else None
    for k, dof in enumerate(spec.dof):
        samples = dof_samples(settings.samples, settings.sweep_samples, spec, k)
        _set_pass(scene, cam, samples, settings.filter_width_px, settings.denoise, dof=dof)
        kernel = None
        if dof.aperture:
            kernel = kernel_for(dof.aperture, kernels)
            factor = show_kernel(scene, cam, occluder, kernel, dof.f_number, dof.focus_distance_m)
            # the occluder ends 1 - open_fraction of the paths: as many more keep the noise
            scene.cycles.samples = int(math.ceil(samples * factor))
            files[f"dof_{k:02d}_kernel"] = f"dof_{k:02d}_kernel.png"
            write_kernel_png(out_dir / files[f"dof_{k:02d}_kernel"], kernel)
        _render(scene, timings, f"render_dof_{k:02d}", settings.log_path)
        files[f"dof_{k:02d}"] = f"dof_{k:02d}.png"
        if settings.exr:
            files[f"dof_{k:02d}_exr"] = f"dof_{k:02d}.exr"
        if settings.exact_highlights:
            t1 = time.perf_counter()
            mask = kernel if kernel is not None else splat.cycles_mask(dof)
            tmp = out_dir / "_dof_linear.exr"
            _save(scene, tmp, "EXR_FLOAT")
            splat.write_exact(spec, dof, mask, ev, tmp, out_dir, files, k, tris)
            timings[f"splat_dof_{k:02d}"] = time.perf_counter() - t1
        else:
            _save(scene, out_dir / files[f"dof_{k:02d}"], "PNG")
            if settings.exr:
                _save(scene, out_dir / files[f"dof_{k:02d}_exr"], "EXR_HALF")
        if dof.aperture:
            hide_kernel(scene, cam, occluder)
    timings["total"] = time.perf_counter() - t0
    return RenderResult(
        depth_m=depth, files=files, timings_s=timings, device=device, exposure_ev=ev
    )
