"""Training configs: typed sections loaded from TOML files in ``train/configs/``.

A config names the network (``deblurnet`` or ``bokehnet``), the backbone and codec, the
optimisation, the data (``train.data.config.DataConfig``; its ``task`` follows from the network),
evaluation and checkpointing. Unknown keys, wrong types and impossible values are refused with a
one-line :class:`TrainConfigError` naming the file and the key (``infra.config_file``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.config_file import (
    ConfigError,
    ConfigModel,
    ConfigRule,
    load_config_file,
    validate_data,
)
from infra.numbers import Int, Real, Seed
from train.config_types import (
    MAX_BATCH,
    MAX_DATA_WORKERS,
    MAX_EULER_STEPS,
    MAX_INTERVAL,
    MAX_K,
    MAX_SIDE_PX,
    MAX_STEPS,
    FiniteNonNegative,
    NonNegative,
)
from train.data.config import DataConfig
from train.threads import MAX_COMPUTE_THREADS

CONFIG_DIR = Path(__file__).parent / "configs"

PROMPTS = {
    "deblurnet": "a sharp photo with everything in focus",
    "bokehnet": "an excellent photo with a large aperture",
}
GUIDANCE = {"deblurnet": 3.5, "bokehnet": 1.0}
TASKS = {"deblurnet": "deblur", "bokehnet": "bokeh"}

TrainConfigError = ConfigError  # the shared one-line config error


class ModelConfig(ConfigModel):
    backbone: Literal["unet", "tiny_flux", "flux"] = "unet"
    path: str = ""  # local FLUX.1-dev diffusers folder (backbone = flux)
    mode: Literal["seq", "branch"] = "branch"  # flux backbones
    codec: Literal["pixel", "vae"] = "pixel"  # vae: the FLUX VAE from `path`
    # Bounds: generous next to what runs use (FLUX.1-dev: 19 + 38 blocks, 24 heads of 128,
    # 512 T5 tokens, inner width 3072; the tiny configs: width 32, 2 levels, 1-2 layers)
    pixel_factor: Int(1, 16) = 1  # space-to-depth factor of the pixel codec
    lora_rank: Int(0, 4096) = 0  # 0: train every parameter (tiny models); FLUX: 128 / 64
    lora_alpha: FiniteNonNegative = 0.0  # 0: = rank (the release applies LoRA at scale 1)
    unet_width: Int(8, 1024, multiple_of=8) = 32  # GroupNorm(8, width)
    unet_levels: Int(0, 8) = 2
    unet_head: Literal["residual", "velocity"] = "residual"
    tiny_layers: Int(1, 64) = 1
    tiny_single_layers: Int(1, 64) = 1
    tiny_heads: Int(1, 64) = 2
    tiny_head_dim: Int(16, 512, multiple_of=16) = 16  # even rope axes
    tiny_text_tokens: Int(1, 512) = 8
    dtype: Literal["float32", "bfloat16"] = "float32"  # bfloat16: autocast on GPU
    # the frozen FLUX base's weights under its LoRA (which stays float32 and alone trainable):
    # "auto" as loaded (backbone flux in `dtype`, tiny_flux float32); "float32" / "bfloat16"
    # cast to that; "int8" bfloat16 with every Linear weight int8 weight-only, one scale per
    # output row (torchao; train.backbones.lowmem); 2x / ~4x fewer base bytes than float32
    base_weights: Literal["auto", "float32", "bfloat16", "int8"] = "auto"
    gradient_checkpointing: bool = False
    # BokehNet, UNet in pixel space: the network corrects a classical render computed from its
    # own conditions (train.backbones.prior; BokehMe's classical + neural design)
    # "classical": the UNet's output is added to the prior; "classical_edit": the UNet edits the
    # AIF and the same layered blur renders the edit (the output follows the map by construction)
    bokeh_prior: Literal["none", "classical", "classical_edit"] = "none"
    # classical_edit: the edit applies only where the AIF's brightest channel (in [0, 1]) is at
    # least this level (0: everywhere). A clipped highlight's recovered brightness then stays on
    # its own pixels and the kernel draws its disc; an edit free to spread (the UNet's output is
    # smooth) brightens a blob around the spot, and the blob blurred is round whatever the kernel
    edit_level: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    # BokehNet: the aperture kernel (the row's shape, Cycles' blades or round) is a third
    # condition image; the classical prior then blurs with it instead of the disc, and a UNet
    # also gets it as an embedding in every block (train.backbones.unet.kernel_grid)
    shape_condition: bool = False
    # FLUX BokehNet with shape_condition: a trained BokehNet run or checkpoint folder (or its
    # LoRA file) whose LoRA is the frozen base; a second LoRA ("shape", lora_rank) learns the
    # kernel condition on top of it and is all a checkpoint saves (the paper's recipe)
    base_lora: str | None = None

    @model_validator(mode="after")
    def _local_flux(self):
        if self.backbone == "flux" and not self.path:
            raise ConfigRule(
                "path", "backbone = flux needs a local FLUX.1-dev folder (nothing is downloaded)"
            )
        if self.codec == "vae" and not self.path:
            raise ConfigRule("codec", "vae needs model.path (the FLUX VAE is read from there)")
        if self.backbone == "flux" and self.lora_rank == 0:
            raise ConfigRule("lora_rank", "must be > 0 for the frozen FLUX backbone")
        if self.base_weights != "auto" and (self.backbone == "unet" or self.lora_rank == 0):
            raise ConfigRule("base_weights", "needs backbone = tiny_flux or flux and lora_rank > 0")
        if self.base_lora is not None:
            if not self.base_lora.strip():
                raise ConfigRule("base_lora", "is empty (leave it out, or name a BokehNet run)")
            if self.backbone == "unet" or not self.shape_condition or self.lora_rank == 0:
                raise ConfigRule(
                    "base_lora",
                    "needs backbone = tiny_flux or flux, shape_condition = true and lora_rank > 0",
                )
        return self


class OptimConfig(ConfigModel):
    # no run learns above ~1; larger values are allowed on purpose: the loss turns non-finite and
    # training stops with one line naming optim.lr (tests/train/test_hostile_values.py, 1e30)
    lr: Real(0.0, 1e30, above=True) = 1e-3
    weight_decay: Real(0.0, 10.0) = 0.0
    warmup_steps: Int(0, MAX_STEPS) = 20
    schedule: Literal["constant", "cosine"] = "constant"  # cosine: to 0 at the last step
    steps: Int(1, MAX_STEPS) = 300
    batch_size: Int(1, MAX_BATCH) = 4  # per worker
    grad_accum: Int(1, 1024) = 1
    grad_clip: FiniteNonNegative = 1.0  # 0: off
    # σ = sigmoid(logit-normal draw): beyond ±10 every σ is 0 or 1 to float precision
    sigma_logit_mean: Real(-10.0, 10.0) = 0.0
    sigma_logit_std: Real(0.0, 10.0) = 1.0
    sigma_floor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05  # residual head: 1/σ² bound
    # "velocity": plain velocity MSE (FLUX); "x0": velocity MSE weighted by σ², i.e. the MSE of
    # the implied clean image, which puts the weight on the high-noise (deblurring) regime
    loss_weighting: Literal["velocity", "x0"] = "velocity"
    # exponential moving average of the trainable weights (0: off); evaluation, the final metrics
    # and inference use the averaged weights; the effective decay warms up as (1 + n) / (10 + n)
    ema_decay: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.0
    # non-finite losses tolerated (each one's step skipped) before training stops; the run keeps
    # its last checkpoint, which only finite weights reach
    max_nonfinite_steps: Annotated[int, Field(ge=0, le=1000)] = 0


class EvalConfig(ConfigModel):
    every: Int(1, MAX_INTERVAL) = 100
    batches: NonNegative = 2  # 0: every held-out row
    batch_size: Int(1, MAX_BATCH) = 4
    # side of the square held-out centre crops (0: data.resolution_px); a multiple of the
    # model's granularity, at most the short side of the frame at the mean training scale
    resolution_px: Int(0, MAX_SIDE_PX) = 0
    sample_steps: Int(1, MAX_EULER_STEPS) = 8  # Euler steps (28 in the release)
    # K (px per 1/m) of the LVCorr sweep, each as the CLIs take it (0-1000)
    k_sweep: Annotated[list[Real(0.0, MAX_K)], Field(max_length=64)] = Field(
        default_factory=lambda: [0.0, 10.0, 20.0, 40.0, 80.0]
    )
    lvcorr_images: Int(1, 10_000) = 2
    # validation images while training (train.evaluate.validation): every images_every steps
    # and at the last one (0: off), `images` held-out centre crops (one per scene first) through
    # the current (averaged) weights, one strip RUN/validation/step-N.png and a TensorBoard image;
    # BokehNet at every (image_focus, image_k) pair: focus planes as quantiles of each crop's
    # finite disparity in [0, 1], K as k_sweep's (0-1000)
    images_every: Int(0, MAX_INTERVAL) = 0
    images: Int(1, 16) = 2
    image_k: Annotated[list[Real(0.0, MAX_K)], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: [10.0, 40.0]
    )
    image_focus: Annotated[list[Real(0.0, 1.0)], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: [0.2, 0.8]
    )

    @field_validator("k_sweep")
    @classmethod
    def _a_sweep(cls, ks: list[float]) -> list[float]:
        if len(set(ks)) < 2:  # LVCorr is a correlation over the sweep
            raise ValueError(f"needs at least two different K values, got {ks}")
        return ks


class CheckpointConfig(ConfigModel):
    every: Int(1, MAX_INTERVAL) = 100
    keep: Int(1, 1000) = 2


class RealConfig(ConfigModel):
    """BokehNet stage 2: real photos (``data.real_ratio > 0`` and a ``real_photos`` manifest)."""

    deblur_run: str = ""  # a trained DeblurNet run folder or checkpoint: makes the pseudo-AIF
    # Euler steps for the pseudo-AIF (0: the DeblurNet config's)
    deblur_steps: Int(0, MAX_EULER_STEPS) = 0
    max_photos: NonNegative = 0  # 0: all (at most 10 M)


class TrainConfig(ConfigModel):
    name: str = "run"
    network: Literal["deblurnet", "bokehnet"] = "deblurnet"
    seed: Seed = 0
    # DataLoader worker processes building batches ahead (0: in-process); each is a process
    data_workers: Int(0, MAX_DATA_WORKERS) = 1
    # torch's intra-op threads per training process; 0: auto, an equal share of the cores free
    # at the start (train/threads.py; docs/train.md "Compute threads")
    compute_threads: Int(0, MAX_COMPUTE_THREADS) = 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    real: RealConfig = Field(default_factory=RealConfig)

    @property
    def granularity_px(self) -> int:
        """Image sides the model accepts are multiples of this (codec and backbone downsampling)."""
        m = self.model
        down = m.pixel_factor if m.codec == "pixel" else 8
        return down * (2**m.unet_levels if m.backbone == "unet" else 2)

    @property
    def prompt(self) -> str:
        return PROMPTS[self.network]

    @property
    def guidance(self) -> float:
        return GUIDANCE[self.network]

    @model_validator(mode="after")
    def _cross_section_rules(self):
        """``data.task`` follows from ``network`` (a file that contradicts it is refused);
        real photos are BokehNet stage 2; training and evaluation crops fit the model's
        granularity."""
        task = TASKS[self.network]
        if "task" in self.data.model_fields_set and self.data.task != task:
            raise ConfigRule(
                "data.task",
                f"{self.data.task!r} contradicts network = {self.network!r} "
                f"(which trains task {task!r}; leave data.task out)",
            )
        self.data.task = task
        shape = self.model.shape_condition
        if shape and self.network != "bokehnet":
            raise ConfigRule(
                "model.shape_condition", "is a BokehNet condition (network = bokehnet)"
            )
        if "shape_condition" in self.data.model_fields_set and self.data.shape_condition != shape:
            raise ConfigRule(
                "data.shape_condition",
                f"contradicts model.shape_condition = {str(shape).lower()} (leave it out)",
            )
        self.data.shape_condition = shape
        if self.data.real_ratio > 0 and (self.network != "bokehnet" or not self.real.deblur_run):
            raise ConfigRule(
                "real.deblur_run",
                "data.real_ratio > 0 is BokehNet stage 2 and needs a DeblurNet run here",
            )
        m = self.model
        if m.bokeh_prior != "none" and (
            self.network != "bokehnet"
            or m.backbone != "unet"
            or m.codec != "pixel"
            or m.pixel_factor != 1
        ):
            raise ConfigRule(
                "model.bokeh_prior",
                "needs network = bokehnet, backbone = unet, codec = pixel, pixel_factor = 1",
            )
        if m.edit_level > 0 and m.bokeh_prior != "classical_edit":
            raise ConfigRule("model.edit_level", "needs bokeh_prior = classical_edit")
        if m.bokeh_prior == "classical_edit" and m.unet_head != "residual":
            raise ConfigRule(
                "model.unet_head", "classical_edit needs the residual head (zero init)"
            )
        sides_px = {"data": self.data.resolution_px, "eval": self.eval.resolution_px}
        for section, side_px in sides_px.items():
            if side_px % self.granularity_px:
                key, gran = f"{section}.resolution_px", self.granularity_px
                raise ConfigRule(key, f"{side_px} is not a multiple of {gran}")
        return self


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """A TOML file (or a file name in ``train/configs/``), then ``section.key=value`` overrides."""
    return load_config_file(TrainConfig, path, overrides, config_dir=CONFIG_DIR)


def train_config_from_dict(data: dict, source: str) -> TrainConfig:
    """A config from plain data, e.g. a run's ``config.json`` (``TrainConfig.to_dict()``)."""
    return validate_data(TrainConfig, data, source)
