"""Data settings shared by the sample builders, the datasets and the real-photo route."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.config_file import ConfigModel, ConfigRule, tuple_from_list
from infra.numbers import Int, Probability, Seed
from train.config_types import MAX_SIDE_PX, MAX_WORK_SIDE_PX, Finite

TASKS = ("deblur", "bokeh")
AUGMENTS = ("flip", "rgb")


class DataConfig(ConfigModel):
    """What a training sample looks like and where its extra models come from.

    ``resize_range``: in training the full image is rescaled by ``s ~ U(lo, hi)`` before the
    crop, but never below the size the crop needs (short side ``>= resolution_px``); evaluation
    rescales by the middle of the range (same clamp) and takes the centre crop.
    ``real_work_short_px``: the short side real photos are resized to once, when they are
    prepared (0: ``ceil(resolution_px / resize_range[0])``, so that the smallest random rescale
    still fits the crop).
    """

    task: Literal[TASKS] = "deblur"  # in a train config: follows from `network`
    resolution_px: Int(8, MAX_SIDE_PX) = 64  # square training crops
    # random rescale before the crop (train only)
    resize_range: Annotated[tuple[Finite, Finite], tuple_from_list] = (0.6, 1.0)
    # share of real-photo samples in the mixture (bokeh stage 2)
    real_ratio: Probability = 0.0
    # share of the rendered samples that are 2.5-D pairs (scene_kind "photo_2p5d", python -m
    # synth photos) when the manifests hold both kinds; unset: in proportion to their counts
    photo_2p5d_share: Probability | None = None
    train_split: str = "train"
    eval_split: str = "val"  # falls back to "test", then to a deterministic 10% of scenes
    depth_model: str | None = None  # local path of a transformers depth-estimation model
    focus_mask: str = "sharpness"  # "sharpness" (weight-free) or a local segmentation model path
    cache_dir: str | None = None  # pseudo-AIF / depth cache for the real route
    seed: Seed = 0
    real_work_short_px: Int(0, MAX_WORK_SIDE_PX) = 0  # short side of prepared real photos (0: auto)
    # decoded images/depths kept per process (LRU), MiB (at most 1 TiB); 0 disables
    decode_cache_mb: Int(0, 1_048_576) = 1024
    # training-only, label-preserving: "flip" (horizontal and vertical, each p = 0.5), "rgb" (one
    # random permutation of the colour channels for every image of the sample)
    augment: Annotated[tuple[Literal[AUGMENTS], ...], tuple_from_list] = ()
    # deblur, training only: this share of samples shows the all-in-focus image as the input too
    # (a deblurrer must leave sharp pixels alone)
    sharp_fraction: Probability = 0.0
    # bokeh: the row's aperture kernel is a third condition image (in a train config: follows
    # model.shape_condition)
    shape_condition: bool = False
    # aspect-ratio buckets ("W:H", e.g. ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"]):
    # training crops of about resolution_px² pixels at the bucket nearest each frame's aspect,
    # batched within a bucket (train.data.buckets); empty: resolution_px square crops
    bucket_aspects: Annotated[tuple[str, ...], tuple_from_list, Field(max_length=32)] = ()
    # training: random rescale (resize_range) and random crop position; false: the mean scale
    # and the centre crop, the same every epoch (what the latent cache stores)
    random_crop: bool = True
    # a folder of VAE latents of every training image (python -m train cache; train.latents):
    # fit encodes what is missing or stale there once and then reads it instead of the images
    latent_cache: str | None = None

    @field_validator("bucket_aspects")
    @classmethod
    def _aspects(cls, aspects: tuple[str, ...]) -> tuple[str, ...]:
        from train.data.buckets import parse_aspect

        for a in aspects:
            parse_aspect(a)
        return aspects

    @model_validator(mode="after")
    def _cache_needs_fixed_crops(self):
        if self.latent_cache is not None:
            if not self.latent_cache.strip():
                raise ConfigRule("latent_cache", "is empty (leave it out, or name a folder)")
            if self.random_crop or self.augment:
                raise ConfigRule(
                    "latent_cache",
                    "stores one fixed crop per image: needs random_crop = false and augment = []",
                )
            if self.real_ratio > 0:
                raise ConfigRule(
                    "latent_cache", "holds rendered pairs only: real_ratio must be 0 with it"
                )
        return self

    @field_validator("resize_range")
    @classmethod
    def _ordered(cls, r: tuple[float, float]) -> tuple[float, float]:
        if not 0 < r[0] <= r[1] <= 4:  # the full frame is rescaled before the crop
            raise ValueError(f"must be 0 < lo <= hi <= 4, got {list(r)}")
        return r

    def work_short_px(self) -> int:
        """Short side of a prepared real photo (see the class docstring)."""
        if self.real_work_short_px:
            return max(int(self.real_work_short_px), int(self.resolution_px))
        return int(math.ceil(self.resolution_px / min(self.resize_range[0], 1.0)))
