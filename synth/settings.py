"""Render settings as plain data (no bpy): the ``[render]`` values a render reads, under the
config's names and with its defaults (``synth.config.RenderConfig``), plus the launcher's
``threads`` and two switches for measurements (``adaptive_sampling``, ``log_path``);
``make_settings`` copies the shared values from a config by name."""

from __future__ import annotations

from dataclasses import dataclass, fields

from synth.config import RenderConfig, SynthConfig

_CONFIG = RenderConfig()  # the config's defaults are the settings' defaults
NOT_FROM_CONFIG = ("threads", "adaptive_sampling", "log_path")


@dataclass
class RenderSettings:
    samples: int = _CONFIG.samples
    sweep_samples: int = _CONFIG.sweep_samples  # a spec's sweep renders (notes sweep_first_dof)
    denoise: bool = _CONFIG.denoise
    pixel_filter: str = _CONFIG.pixel_filter  # AIF and DoF renders: box, blackman_harris, gaussian
    filter_width_px: float = _CONFIG.filter_width_px
    day_clip_percent: float = _CONFIG.day_clip_percent  # synth.exposure: at most this % clips
    light_tree: bool = _CONFIG.light_tree
    device: str = _CONFIG.device
    threads: int = 0  # 0 = all cores
    exr: bool = _CONFIG.exr
    exact_highlights: bool = _CONFIG.exact_highlights
    adaptive_sampling: bool = True  # off for measurements that need every sample
    log_path: str | None = None  # Cycles' progress lines go here (else /dev/null)


def dof_samples(samples: int, sweep_samples: int, spec, index: int) -> int:
    """The samples of ``spec``'s DoF render ``index``: ``sweep_samples`` for its K sweep's
    renders (from ``notes["sweep_first_dof"]`` on) when it is set (> 0), else ``samples``."""
    first = spec.notes.get("sweep_first_dof")
    in_sweep = first is not None and index >= int(first)
    return int(sweep_samples) if sweep_samples and in_sweep else int(samples)


def make_settings(cfg: SynthConfig, threads: int = 0) -> RenderSettings:
    """The settings of ``cfg.render`` with ``threads`` Cycles threads (0: all cores)."""
    shared = [f.name for f in fields(RenderSettings) if f.name not in NOT_FROM_CONFIG]
    return RenderSettings(**{name: getattr(cfg.render, name) for name in shared}, threads=threads)
