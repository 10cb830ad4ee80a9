"""Curate configuration: typed sections loaded from a TOML file (``curate/configs/default.toml``).

Every key has a default that runs on a laptop; a TOML file overrides any subset, and
``--set section.key=value`` on the command line overrides the file (the shared mechanism of
``manifests.config_file``). Unknown keys and wrong types are one-line errors (a typo must not
silently fall back to a default). See docs/curate.md for the meaning of each key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from manifests.config_file import ConfigError, ConfigModel, ConfigRule, load_config_file

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "default.toml"

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff", "webp", "heic", "heif")

__all__ = ["DEFAULT_CONFIG", "IMAGE_EXTENSIONS", "ConfigError", "CurateConfig", "load_config"]

# a [positive, negative] prompt pair
PromptPair = Annotated[list[str], Field(min_length=2, max_length=2)]


class ListingConfig(ConfigModel):
    extensions: list[str] = Field(default_factory=lambda: list(IMAGE_EXTENSIONS))
    shard_size: Annotated[int, Field(ge=1)] = 256  # files per shard (one Ray task per shard, pass)


class ExifConfig(ConfigModel):
    # pass 1 reads only this many bytes (a ranged GET on object stores)
    head_bytes: Annotated[int, Field(ge=4096)] = 131072


class FilterConfig(ConfigModel):
    max_f_number: float = 8.0
    max_f_number_equivalent: float = 8.0  # N * crop; only checked when the sensor is resolved
    require_sensor_width: bool = False  # True: reject photos whose N_eq cannot be computed
    min_focal_length_mm: float = 1.0
    max_focal_length_mm: float = 2000.0
    min_short_side_px: int = 512


class DecodeConfig(ConfigModel):
    max_pixels: int = 200_000_000  # decompression-bomb limit (full-resolution pixels)
    analysis_long_edge_px: int = 512  # quality signals and hashes work at this size


class QualityConfig(ConfigModel):
    grid: int = 4  # sharpness is measured in grid x grid regions
    min_sharpness: float = 0.0  # below: rejected as low_quality (0 disables)
    max_exposure_clipping: float = 1.0  # above: rejected as low_quality (1 disables)


class ClipConfig(ConfigModel):
    model: str = "ViT-B-32"
    # optional JSON model config to register with open_clip; the key is ``model_config`` (a name
    # pydantic reserves for itself, hence the attribute name)
    model_config_file: str = Field("", alias="model_config")
    checkpoint: str = ""  # local state_dict file; empty: CLIP columns stay null
    batch_size: int = 32
    actors: int = 0  # 0: one per GPU when the cluster has GPUs, else 1
    cpus_per_actor: float = 1.0
    quality_prompts: PromptPair = Field(
        default_factory=lambda: [
            "a high quality, well exposed, professional photo",
            "a low quality, badly exposed, noisy snapshot",
        ]
    )
    shallow_dof_prompts: PromptPair = Field(
        default_factory=lambda: [
            "a photo of a subject in front of a softly blurred background",
            "a photo in which the background is as detailed as the subject",
        ]
    )

    @field_validator("checkpoint")
    @classmethod
    def _local_checkpoint(cls, path: str) -> str:
        if path and not Path(path).is_file():
            raise ValueError(
                f"{path!r}: no such local file (weights are never downloaded; leave it empty to "
                "run without CLIP scores)"
            )
        return path


class DedupConfig(ConfigModel):
    phash_max_distance: int = 4  # Hamming distance (of 64 bits) for a near duplicate


class SplitConfig(ConfigModel):
    val_fraction: Annotated[float, Field(ge=0.0)] = 0.05
    test_fraction: Annotated[float, Field(ge=0.0)] = 0.05

    @model_validator(mode="after")
    def _fractions(self):
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigRule("test_fraction", "val_fraction + test_fraction must lie in [0, 1)")
        return self


class CurateConfig(ConfigModel):
    listing: ListingConfig = Field(default_factory=ListingConfig)
    exif: ExifConfig = Field(default_factory=ExifConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> CurateConfig:
    """Defaults, then the TOML file at ``path`` (default ``curate/configs/default.toml``), then
    ``section.key=value`` overrides."""
    return load_config_file(CurateConfig, path or DEFAULT_CONFIG, overrides)
