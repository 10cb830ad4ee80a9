"""Curate configuration: typed sections loaded from a TOML file (``curate/configs/default.toml``).

Every key has a default that runs on a laptop; a TOML file overrides any subset, and
``--set section.key=value`` on the command line overrides the file (the shared mechanism of
``infra.config_file``). Unknown keys, wrong types, numbers outside their range (every number
has one; NaN and infinity are refused) and a CLIP checkpoint that is not a weights file are
one-line errors before any work starts (a typo must not silently fall back to a default). See
docs/curate.md for the meaning of each key.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from curate.filters import F_NUMBER_RANGE, FOCAL_LENGTH_RANGE_MM, PLAUSIBLE
from infra.config_file import ConfigError, ConfigModel, ConfigRule, load_config_file
from infra.numbers import Int, Real
from infra.uri import read_bytes

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "default.toml"

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff", "webp", "heic", "heif")

__all__ = ["DEFAULT_CONFIG", "IMAGE_EXTENSIONS", "ConfigError", "CurateConfig", "load_config"]

# a [positive, negative] prompt pair
PromptPair = Annotated[list[str], Field(min_length=2, max_length=2)]


F_NUMBER = Real(*F_NUMBER_RANGE)
F_NUMBER_EQ = Real(*PLAUSIBLE["f_number_equivalent"][1:3])
FOCAL_LENGTH_MM = Real(0.0, FOCAL_LENGTH_RANGE_MM[1])
MAX_SIDE_PX = 1_000_000


class ListingConfig(ConfigModel):
    extensions: list[str] = Field(default_factory=lambda: list(IMAGE_EXTENSIONS))
    shard_size: Int(1, 1_000_000) = 256  # files per shard (one Ray task per shard, pass)


class ExifConfig(ConfigModel):
    # pass 1 reads only this many bytes (a ranged GET on object stores)
    head_bytes: Int(4096, 64 * 2**20) = 131072


class FilterConfig(ConfigModel):
    max_f_number: F_NUMBER = 8.0
    max_f_number_equivalent: F_NUMBER_EQ = 8.0  # N * crop; only checked when the sensor is known
    require_sensor_width: bool = False  # True: reject photos whose N_eq cannot be computed
    min_focal_length_mm: FOCAL_LENGTH_MM = 1.0
    max_focal_length_mm: FOCAL_LENGTH_MM = 2000.0
    min_short_side_px: Int(0, MAX_SIDE_PX) = 512

    @model_validator(mode="after")
    def _focal_range(self):
        if self.min_focal_length_mm > self.max_focal_length_mm:
            raise ConfigRule(
                "min_focal_length_mm",
                f"must be <= max_focal_length_mm ({self.max_focal_length_mm:g}), "
                f"got {self.min_focal_length_mm:g}",
            )
        return self


class DecodeConfig(ConfigModel):
    # decompression-bomb limits, judged on the header before any pixel is decoded:
    # full-resolution pixels (2 GP keeps every side within int32)
    max_pixels: Int(1, 2_000_000_000) = 200_000_000
    # the decoded bitmap (pixels x bytes per pixel, at least 3) must fit this budget, in MiB
    max_bitmap_mb: Int(1, 1_048_576) = 1024
    # a bitmap above ratio_floor_mb MiB may be at most max_expansion_ratio x the file size
    ratio_floor_mb: Int(0, 1_048_576) = 256
    max_expansion_ratio: Real(1.0, 1e9) = 250.0
    analysis_long_edge_px: Int(32, 8192) = 512  # quality signals and hashes work at this size


class QualityConfig(ConfigModel):
    grid: Int(1, 32) = 4  # sharpness is measured in grid x grid regions
    # below: rejected as low_quality (0 disables); a Laplacian variance of 8-bit luma is < 4.2e6
    min_sharpness: Real(0.0, 1e7) = 0.0
    max_exposure_clipping: Real(0.0, 1.0) = 1.0  # above: rejected as low_quality (1 disables)
    # all_in_focus (a 2.5-D source): at least this share of the detailed frame is sharp
    # (infra.allinfocus; never a reject, only the column)
    aif_min_sharp_fraction: Real(0.0, 1.0) = 0.7


class ClipConfig(ConfigModel):
    model: str = "ViT-B-32"
    # optional JSON model config to register with open_clip; the key is ``model_config`` (a name
    # pydantic reserves for itself, hence the attribute name)
    model_config_file: str = Field("", alias="model_config")
    checkpoint: str = ""  # local state_dict file; empty: CLIP columns stay null
    batch_size: Int(1, 65536) = 32
    actors: Int(0, 4096) = 0  # 0: one per GPU when the cluster has GPUs, else 1
    cpus_per_actor: Real(0.0, 1024.0, above=True) = 1.0
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

    @field_validator("checkpoint", "model_config_file")
    @classmethod
    def _local_files(cls, path: str, info) -> str:
        check = checkpoint_problem if info.field_name == "checkpoint" else model_config_problem
        problem = check(path) if path else None
        if problem:
            raise ValueError(f"{path!r}: {problem}")
        return path


class DedupConfig(ConfigModel):
    phash_max_distance: Int(0, 64) = 4  # Hamming distance (of 64 bits) for a near duplicate


class SplitConfig(ConfigModel):
    val_fraction: Real(0.0, 1.0) = 0.05
    test_fraction: Real(0.0, 1.0) = 0.05

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


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` cannot be a CLIP weights file open_clip loads, from its first bytes (no
    torch): a ``torch.save`` zip (with ``data.pkl``) or pickle, ``.safetensors``, ``.npz``/
    ``.npy`` (by suffix, as open_clip decides). None when it looks right."""
    p = Path(path)
    if not p.is_file():
        return (
            "no such local file (weights are never downloaded; leave it empty to run without "
            "CLIP scores)"
        )
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(16)
        names = None
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
    except (OSError, zipfile.BadZipFile) as e:
        return f"cannot read it ({type(e).__name__}: {e})"
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        header = int.from_bytes(head[:8], "little")
        if len(head) > 8 and 0 < header <= size - 8 and head[8:9] == b"{":
            return None
        return "not a safetensors file (no JSON header), or a truncated one"
    if suffix == ".npy":
        return None if head.startswith(b"\x93NUMPY") else "not a NumPy .npy file"
    if suffix == ".npz":
        ok = names is not None and any(n.endswith(".npy") for n in names)
        return None if ok else "not a NumPy .npz archive"
    if names is not None and any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return None  # torch.save's zip layout
    if names is None and len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return None  # the legacy torch.save format: a pickle
    return (
        "not a torch checkpoint (neither a torch.save zip nor a pickle; truncated?); "
        ".safetensors and .npz files are read by their suffix"
    )


def model_config_problem(path: str) -> str | None:
    """Why ``path`` is not an open_clip model config (a JSON object file, or a folder of them)."""
    p = Path(path)
    if p.is_dir():
        return None
    try:  # the shared reading rule: a FIFO or a device is refused, not read
        value = json.loads(read_bytes(p, max_bytes=1 << 20).decode())
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return f"cannot read it ({e.strerror or e})"
    except (UnicodeDecodeError, ValueError) as e:
        return f"not a JSON model config ({' '.join(str(e).split())})"
    return None if isinstance(value, dict) else f"not a JSON object (a {type(value).__name__})"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> CurateConfig:
    """Defaults, then the TOML file at ``path`` (default ``curate/configs/default.toml``), then
    ``section.key=value`` overrides."""
    return load_config_file(CurateConfig, path or DEFAULT_CONFIG, overrides)
