"""Render settings as plain data (no bpy), built from a config plus launcher choices."""

from __future__ import annotations

from dataclasses import dataclass

from synth.config import SynthConfig


@dataclass
class RenderSettings:
    samples: int = 32
    denoise: bool = True
    pixel_filter: str = "box"  # AIF and DoF renders: box, blackman_harris, gaussian
    filter_width_px: float = 1.0
    day_clip_percent: float = 100.0  # synth.exposure: at most this % of a day frame clips
    light_tree: bool = False
    device: str = "auto"
    threads: int = 0  # 0 = all cores
    exr: bool = False
    adaptive_sampling: bool = True  # off for measurements that need every sample
    log_path: str | None = None  # Cycles' progress lines go here (else /dev/null)


def make_settings(cfg: SynthConfig, threads: int = 0) -> RenderSettings:
    r = cfg.render
    return RenderSettings(
        samples=r.samples,
        denoise=r.denoise,
        pixel_filter=r.pixel_filter,
        filter_width_px=r.filter_width_px,
        day_clip_percent=r.day_clip_percent,
        light_tree=r.light_tree,
        device=r.device,
        threads=threads,
        exr=r.exr,
    )
