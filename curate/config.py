"""Curate configuration: dataclasses loaded from a TOML file (``curate/configs/default.toml``).

Every key has a default that runs on a laptop; a TOML file overrides any subset, and
``--set section.key=value`` on the command line overrides the file. Unknown keys are errors (a
typo must not silently fall back to a default). See docs/curate.md for the meaning of each key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "default.toml"

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff", "webp", "heic", "heif")


class ConfigError(ValueError):
    """A bad config file or override; ``str()`` is one line naming the key and the reason."""


@dataclass
class ListingConfig:
    extensions: list[str] = field(default_factory=lambda: list(IMAGE_EXTENSIONS))
    shard_size: int = 256  # files per shard (one Ray task per shard and pass)


@dataclass
class ExifConfig:
    head_bytes: int = 131072  # pass 1 reads only this many bytes (a ranged GET on object stores)


@dataclass
class FilterConfig:
    max_f_number: float = 8.0
    max_f_number_equivalent: float = 8.0  # N * crop; only checked when the sensor is resolved
    require_sensor_width: bool = False  # True: reject photos whose N_eq cannot be computed
    min_focal_length_mm: float = 1.0
    max_focal_length_mm: float = 2000.0
    min_short_side_px: int = 512


@dataclass
class DecodeConfig:
    max_pixels: int = 200_000_000  # decompression-bomb limit (full-resolution pixels)
    analysis_long_edge_px: int = 512  # quality signals and hashes work at this size


@dataclass
class QualityConfig:
    grid: int = 4  # sharpness is measured in grid x grid regions
    min_sharpness: float = 0.0  # below: rejected as low_quality (0 disables)
    max_exposure_clipping: float = 1.0  # above: rejected as low_quality (1 disables)


@dataclass
class ClipConfig:
    model: str = "ViT-B-32"
    model_config: str = ""  # optional JSON model config to register with open_clip
    checkpoint: str = ""  # local state_dict file; empty: CLIP columns stay null
    batch_size: int = 32
    actors: int = 0  # 0: one per GPU when the cluster has GPUs, else 1
    cpus_per_actor: float = 1.0
    quality_prompts: list[str] = field(
        default_factory=lambda: [
            "a high quality, well exposed, professional photo",
            "a low quality, badly exposed, noisy snapshot",
        ]
    )
    shallow_dof_prompts: list[str] = field(
        default_factory=lambda: [
            "a photo of a subject in front of a softly blurred background",
            "a photo in which the background is as detailed as the subject",
        ]
    )


@dataclass
class DedupConfig:
    phash_max_distance: int = 4  # Hamming distance (of 64 bits) for a near duplicate


@dataclass
class SplitConfig:
    val_fraction: float = 0.05
    test_fraction: float = 0.05


@dataclass
class CurateConfig:
    listing: ListingConfig = field(default_factory=ListingConfig)
    exif: ExifConfig = field(default_factory=ExifConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> CurateConfig:
        cfg = cls()
        for section, values in data.items():
            if section not in {f.name for f in dataclasses.fields(cls)}:
                raise ConfigError(f"{source}: unknown section [{section}]")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{section}] must be a table")
            target = getattr(cfg, section)
            for key, value in values.items():
                _set(target, f"{section}.{key}", key, value, source)
        return cfg


def _set(target, dotted: str, key: str, value, source: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    if key not in fields:
        raise ConfigError(f"{source}: unknown key {dotted}")
    current = getattr(target, key)
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                value = {"true": True, "false": False}[value.lower()]
            value = bool(value)
        elif isinstance(current, int):
            value = int(value)
        elif isinstance(current, float):
            value = float(value)
        elif isinstance(current, list):
            value = [str(v) for v in (value.split(",") if isinstance(value, str) else value)]
        else:
            value = str(value)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{source}: {dotted} = {value!r} is not a {type(current).__name__}"
        ) from None
    setattr(target, key, value)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> CurateConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``section.key=value`` overrides."""
    cfg = CurateConfig()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e})") from None
        cfg = CurateConfig.from_dict(data, source=str(p))
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        dotted, value = item.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        if not hasattr(cfg, section):
            raise ConfigError(f"override {item!r}: unknown section [{section}]")
        _set(getattr(cfg, section), dotted.strip(), key, value.strip(), "override")
    _check(cfg)
    return cfg


def _check(cfg: CurateConfig) -> None:
    if cfg.listing.shard_size < 1:
        raise ConfigError("listing.shard_size must be >= 1")
    if cfg.exif.head_bytes < 4096:
        raise ConfigError("exif.head_bytes must be >= 4096")
    if cfg.clip.checkpoint and not Path(cfg.clip.checkpoint).is_file():
        raise ConfigError(
            f"clip.checkpoint {cfg.clip.checkpoint!r}: no such local file (weights are never "
            "downloaded; leave it empty to run without CLIP scores)"
        )
    if len(cfg.clip.quality_prompts) != 2 or len(cfg.clip.shallow_dof_prompts) != 2:
        raise ConfigError("clip prompts come in pairs: [positive, negative]")
    if not 0 <= cfg.split.val_fraction + cfg.split.test_fraction < 1:
        raise ConfigError("split.val_fraction + split.test_fraction must lie in [0, 1)")
