"""Training configs: dataclasses loaded from TOML files in ``train/configs/``.

A config names the network (``deblurnet`` or ``bokehnet``), the backbone and codec, the
optimisation, the data (``train.data.config.DataConfig``), evaluation and checkpointing.
Unknown keys are refused with a one-line error naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from train.data.config import DataConfig

CONFIG_DIR = Path(__file__).parent / "configs"

PROMPTS = {
    "deblurnet": "a sharp photo with everything in focus",
    "bokehnet": "an excellent photo with a large aperture",
}
GUIDANCE = {"deblurnet": 3.5, "bokehnet": 1.0}


class TrainConfigError(ValueError):
    pass


@dataclass
class ModelConfig:
    backbone: str = "unet"  # unet | tiny_flux | flux
    path: str = ""  # local FLUX.1-dev diffusers folder (backbone = flux)
    mode: str = "branch"  # seq | branch (flux backbones)
    codec: str = "pixel"  # pixel | vae (vae: the FLUX VAE from `path`)
    pixel_factor: int = 1  # space-to-depth factor of the pixel codec
    lora_rank: int = 0  # 0: train every parameter (tiny models); FLUX: 128 / 64
    lora_alpha: float = 0.0  # 0: = rank (the release applies LoRA at scale 1)
    unet_width: int = 32
    unet_levels: int = 2
    unet_head: str = "residual"  # residual | velocity
    tiny_layers: int = 1
    tiny_single_layers: int = 1
    tiny_heads: int = 2
    tiny_head_dim: int = 16
    tiny_text_tokens: int = 8
    dtype: str = "float32"  # float32 | bfloat16 (autocast on GPU)
    gradient_checkpointing: bool = False


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 20
    schedule: str = "constant"  # constant | cosine (decays to 0 at the last step)
    steps: int = 300
    batch_size: int = 4  # per worker
    grad_accum: int = 1
    grad_clip: float = 1.0
    sigma_logit_mean: float = 0.0
    sigma_logit_std: float = 1.0
    sigma_floor: float = 0.05  # residual head: bound on the 1/σ² weight
    # "velocity": plain velocity MSE (FLUX); "x0": velocity MSE weighted by σ², i.e. the MSE of
    # the implied clean image, which puts the weight on the high-noise (deblurring) regime
    loss_weighting: str = "velocity"
    # exponential moving average of the trainable weights (0: off); evaluation, the final metrics
    # and inference use the averaged weights; the effective decay warms up as (1 + n) / (10 + n)
    ema_decay: float = 0.0


@dataclass
class EvalConfig:
    every: int = 100
    batches: int = 2  # 0: every held-out row
    batch_size: int = 4
    # side of the square held-out centre crops (0: data.resolution_px); a multiple of the
    # model's granularity, at most the short side of the frame at the mean training scale
    resolution_px: int = 0
    sample_steps: int = 8  # Euler steps (28 in the release)
    k_sweep: list[float] = field(default_factory=lambda: [0.0, 10.0, 20.0, 40.0, 80.0])
    lvcorr_images: int = 2


@dataclass
class CheckpointConfig:
    every: int = 100
    keep: int = 2


@dataclass
class RealConfig:
    """BokehNet stage 2: real photos (``data.real_ratio > 0`` and a ``real_photos`` manifest)."""

    deblur_run: str = ""  # a trained DeblurNet run folder or checkpoint: makes the pseudo-AIF
    deblur_steps: int = 0  # Euler steps for the pseudo-AIF (0: the DeblurNet config's)
    max_photos: int = 0  # 0: all


@dataclass
class TrainConfig:
    name: str = "run"
    network: str = "deblurnet"  # deblurnet | bokehnet
    seed: int = 0
    data_workers: int = 1  # DataLoader worker processes building batches ahead (0: in-process)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    real: RealConfig = field(default_factory=RealConfig)

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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: dict, where: str, source: str):
    known = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise TrainConfigError(
                f"{source}: unknown key {where}{key} (known: {', '.join(sorted(known))})"
            )
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}{key}.", source)
        elif isinstance(default, tuple):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def validate(cfg: TrainConfig, source: str) -> TrainConfig:
    def bad(msg):
        raise TrainConfigError(f"{source}: {msg}")

    if cfg.network not in PROMPTS:
        bad(f"network = {cfg.network!r}: expected deblurnet or bokehnet")
    m = cfg.model
    if m.backbone not in ("unet", "tiny_flux", "flux"):
        bad(f"model.backbone = {m.backbone!r}: expected unet, tiny_flux or flux")
    if m.backbone == "flux" and not m.path:
        bad("model.path: backbone = flux needs a local FLUX.1-dev folder (nothing is downloaded)")
    if m.codec not in ("pixel", "vae") or (m.codec == "vae" and not m.path):
        bad(f"model.codec = {m.codec!r}: pixel, or vae with model.path set")
    if m.mode not in ("seq", "branch"):
        bad(f"model.mode = {m.mode!r}: expected seq or branch")
    if m.lora_rank < 0 or (m.backbone == "flux" and m.lora_rank == 0):
        bad("model.lora_rank must be > 0 for the frozen FLUX backbone")
    o = cfg.optim
    if o.lr <= 0 or o.steps < 1 or o.batch_size < 1 or o.grad_accum < 1:
        bad("optim: lr > 0, steps >= 1, batch_size >= 1, grad_accum >= 1 are required")
    if cfg.data.real_ratio > 0 and (cfg.network != "bokehnet" or not cfg.real.deblur_run):
        bad("data.real_ratio > 0 is BokehNet stage 2 and needs real.deblur_run (a DeblurNet run)")
    if o.schedule not in ("constant", "cosine"):
        bad(f"optim.schedule = {o.schedule!r}: expected constant or cosine")
    if o.loss_weighting not in ("velocity", "x0"):
        bad(f"optim.loss_weighting = {o.loss_weighting!r}: expected velocity or x0")
    if not 0.0 <= o.ema_decay < 1.0:
        bad(f"optim.ema_decay = {o.ema_decay}: expected 0 (off) <= decay < 1")
    e = cfg.eval
    if e.batches < 0 or e.batch_size < 1 or e.resolution_px < 0:
        bad("eval: batches >= 0, batch_size >= 1, resolution_px >= 0 are required")
    if e.resolution_px % cfg.granularity_px:
        bad(f"eval.resolution_px = {e.resolution_px}: not a multiple of {cfg.granularity_px}")
    want_task = {"deblurnet": "deblur", "bokehnet": "bokeh"}[cfg.network]
    if cfg.data.task != want_task:
        cfg.data.task = want_task
    return cfg


def load_train_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / path).is_file():
        path = CONFIG_DIR / path
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TrainConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TrainConfigError(f"{path}: not valid TOML ({e})") from None
    return validate(_build(TrainConfig, data, "", str(path)), str(path))
