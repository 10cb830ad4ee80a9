"""Checkpoints: the LoRA in diffusers format plus everything needed to resume exactly.

``RUN/checkpoints/step-000300/`` holds ``pytorch_lora_weights.safetensors`` (written by
``FluxPipeline.save_lora_weights``, loadable with ``pipe.load_lora_weights``) when the backbone
has a LoRA, ``trainable.safetensors`` for fully trained tiny models, ``ema.safetensors`` (the
moving average of every trainable parameter by name, when ``optim.ema_decay > 0``; inference
loads it over the raw weights, a resumed run restores it as is), ``optimizer.pt`` and
``scheduler.pt`` (tensors and plain containers only, read back with ``weights_only=True``), and
``state.json`` (step, data cursor, Python/NumPy RNG, losses). Rank 0 writes into a hidden temp
folder and renames it; ``LATEST`` names the newest complete checkpoint. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

LORA_FILE = "pytorch_lora_weights.safetensors"
TRAINABLE_FILE = "trainable.safetensors"
EMA_FILE = "ema.safetensors"


def _trainable_state(denoiser: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().cpu().contiguous()
        for n, p in denoiser.named_parameters()
        if p.requires_grad and "lora_" not in n
    }


def save_lora(lora_module, folder: Path) -> None:
    from diffusers import FluxPipeline
    from peft.utils import get_peft_model_state_dict

    FluxPipeline.save_lora_weights(
        folder,
        transformer_lora_layers=get_peft_model_state_dict(lora_module),
        safe_serialization=True,
    )


def load_lora(lora_module, path: Path) -> None:
    from peft.utils import set_peft_model_state_dict

    sd = load_file(str(path))
    sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    result = set_peft_model_state_dict(lora_module, sd)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ValueError(f"{path}: LoRA keys not in this model, e.g. {unexpected[:3]}")


def save_checkpoint(
    run_dir: Path,
    step: int,
    built,
    optimizer,
    scheduler,
    cursor: dict,
    losses: list[float],
    keep: int = 2,
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    ckpt_root = Path(run_dir) / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    tmp = ckpt_root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if built.lora_module is not None:
        save_lora(built.lora_module, tmp)
    trainable = _trainable_state(built.denoiser)
    if trainable:
        save_file(trainable, str(tmp / TRAINABLE_FILE))
    if ema:
        save_file({n: t.detach().cpu().contiguous() for n, t in ema.items()}, str(tmp / EMA_FILE))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
    state = {
        "step": step,
        "cursor": cursor,
        "losses": losses,
        "python_rng": _jsonable(random.getstate()),
        "numpy_rng": np.random.get_state()[1].tolist(),
        "numpy_rng_pos": int(np.random.get_state()[2]),
    }
    (tmp / "state.json").write_text(json.dumps(state))
    final = ckpt_root / name
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    latest_tmp = ckpt_root / ".LATEST.tmp"
    latest_tmp.write_text(name)
    os.replace(latest_tmp, ckpt_root / "LATEST")
    for old in sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _jsonable(x):
    if isinstance(x, tuple):
        return [_jsonable(v) for v in x]
    return x


def latest_checkpoint(run_dir: Path) -> Path | None:
    marker = Path(run_dir) / "checkpoints" / "LATEST"
    if not marker.is_file():
        return None
    path = marker.parent / marker.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_ema(path: Path) -> dict[str, torch.Tensor] | None:
    """The checkpoint's moving-average weights by parameter name (None when it has none)."""
    f = Path(path) / EMA_FILE
    return load_file(str(f)) if f.is_file() else None


def apply_ema(denoiser: torch.nn.Module, ema: dict[str, torch.Tensor], where: Path) -> None:
    """Copy moving-average weights into the denoiser's trainable parameters of the same name."""
    params = {n: p for n, p in denoiser.named_parameters() if p.requires_grad}
    if set(ema) != set(params):
        odd = sorted(set(ema) ^ set(params))[:3]
        raise ValueError(f"{where}: EMA weights do not match the trainable parameters, e.g. {odd}")
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(ema[n])


def load_checkpoint(
    path: Path, built, optimizer=None, scheduler=None, prefer_ema: bool = False
) -> dict:
    """Restore weights (and optimiser, scheduler, RNG when given); returns ``state.json``.

    ``prefer_ema``: load the moving-average weights where the checkpoint has them (inference and
    weights-only starts); resuming loads the raw weights and restores the average separately.
    """
    path = Path(path)
    if built.lora_module is not None:
        load_lora(built.lora_module, path / LORA_FILE)
    if (path / TRAINABLE_FILE).is_file():
        sd = load_file(str(path / TRAINABLE_FILE))
        missing = built.denoiser.load_state_dict(sd, strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"{path}: unexpected weights {missing.unexpected_keys[:3]}")
    ema = load_ema(path) if prefer_ema else None
    if ema is not None:
        apply_ema(built.denoiser, ema, path)
    state = json.loads((path / "state.json").read_text())
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    if scheduler is not None:
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if optimizer is not None:
        torch.set_rng_state(torch.load(path / "rng.pt", weights_only=True)["torch"])
        py = state["python_rng"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        np.random.set_state(
            (
                "MT19937",
                np.array(state["numpy_rng"], dtype=np.uint32),
                state["numpy_rng_pos"],
                0,
                0.0,
            )
        )
    return state
