"""CLIP scores with open_clip: the only module of curate that imports torch.

``ClipScorer(cfg)`` builds ``cfg.model`` (optionally registering the JSON model config at
``cfg.model_config_file`` first) with no pretrained tag, then loads the **local** state dict at
``cfg.checkpoint``; it never downloads anything and refuses to run without a checkpoint, so
random weights are never used silently. ``score(batch)`` takes uint8 (B, S, S, 3) arrays already
resized/cropped to the model's input size (``curate.decode.clip_input``) and returns, per image:

- ``clip_quality = softmax(s · [cos(e, t_good), cos(e, t_bad)])[0]`` with ``s = exp(logit_scale)``
  and ``e``, ``t`` unit image/text embeddings (a zero-shot prompt pair);
- ``clip_shallow_dof``: the same with the shallow depth-of-field pair (a blurred *background*
  versus an equally detailed background: "sharp vs blurry" would punish bokeh);
- ``clip_embedding``: ``e`` as float16.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import open_clip
import torch


class ScoringError(ValueError):
    """A CLIP setup problem (no checkpoint, a file that does not fit the model)."""


def input_size(model) -> int:
    size = model.visual.image_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def build_model(model_name: str, checkpoint: str, model_config: str = "", device="cpu"):
    """An open_clip model with weights from a local file; raises ``ScoringError`` otherwise."""
    if not checkpoint:
        raise ScoringError("no CLIP checkpoint configured (clip.checkpoint); not scoring")
    if not Path(checkpoint).is_file():
        raise ScoringError(f"clip.checkpoint {checkpoint}: no such local file")
    if model_config:
        open_clip.add_model_config(model_config)
    if model_name not in open_clip.list_models():
        raise ScoringError(
            f"clip.model {model_name!r} is not an open_clip model config "
            "(set clip.model_config to a JSON config file)"
        )
    # open_clip warns "initialized randomly" here; the weights are loaded right below.
    logging.disable(logging.WARNING)
    try:
        model = open_clip.create_model(model_name, pretrained=None, device=device)
    finally:
        logging.disable(logging.NOTSET)
    try:
        open_clip.load_checkpoint(model, checkpoint, device=device)
    except (RuntimeError, KeyError, OSError) as e:
        raise ScoringError(f"{checkpoint}: does not fit {model_name} ({_first_line(e)})") from None
    except Exception as e:  # UnpicklingError, EOFError, a safetensors header error, ...
        raise ScoringError(f"{checkpoint}: not a weights file ({_first_line(e)})") from None
    return model.eval()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


class ClipScorer:
    def __init__(
        self, cfg, device: str | None = None, threads: int | None = None, flush_denormal=False
    ):
        """``threads``/``flush_denormal`` change process-wide torch state: workers set them
        (random-init CPU models run 10-50x slower on denormals), a host process need not."""
        if threads:
            torch.set_num_threads(int(threads))
        if flush_denormal:
            torch.set_flush_denormal(True)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = build_model(cfg.model, cfg.checkpoint, cfg.model_config_file, self.device)
        self.size_px = input_size(self.model)
        pp = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        mean = pp.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = pp.get("std", open_clip.OPENAI_DATASET_STD)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        tokenizer = open_clip.get_tokenizer(cfg.model)
        prompts = list(cfg.quality_prompts) + list(cfg.shallow_dof_prompts)
        with torch.no_grad():
            text = self.model.encode_text(tokenizer(prompts).to(self.device)).float()
        self.text = text / text.norm(dim=-1, keepdim=True)
        self.logit_scale = float(self.model.logit_scale.detach().exp())

    def to_tensor(self, batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def embed(self, batch: np.ndarray) -> torch.Tensor:
        e = self.model.encode_image(self.to_tensor(batch)).float()
        return e / e.norm(dim=-1, keepdim=True)

    def score(self, batch: np.ndarray) -> dict[str, list]:
        if len(batch) == 0:
            return {"clip_quality": [], "clip_shallow_dof": [], "clip_embedding": []}
        e = self.embed(batch)
        logits = self.logit_scale * e @ self.text.T  # (B, 4)
        quality = logits[:, 0:2].softmax(dim=-1)[:, 0]
        shallow = logits[:, 2:4].softmax(dim=-1)[:, 0]
        emb = e.half().cpu().numpy()
        return {
            "clip_quality": quality.cpu().double().tolist(),
            "clip_shallow_dof": shallow.cpu().double().tolist(),
            "clip_embedding": [row for row in emb],
        }
