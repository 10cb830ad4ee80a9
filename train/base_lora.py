"""The base LoRA of a shape run (``model.base_lora``), resolved once: which file it is, its rank
and alpha, and the record (path and SHA-256) a shape run keeps of it.

``model.base_lora`` names a LoRA file, a checkpoint folder or a BokehNet run folder (its latest
checkpoint); :func:`resolve_base_lora` gives the model builder (``train.model``) everything it
needs as a :class:`BaseLora`, and ``train.checkpoint.check_base_lora`` compares the record with
the one a checkpoint was trained on. One-line ``CheckpointError``s name the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra.errors import one_line
from train.checkpoint import (
    LORA_FILE,
    CheckpointError,
    check_files,
    checkpoint_of,
    read_state,
    sha256_file,
)


@dataclass(frozen=True)
class BaseLora:
    """A resolved base LoRA: its file, rank and alpha, and ``record`` (path, SHA-256)."""

    file: Path
    rank: int
    alpha: float
    record: dict


def resolve_base_lora(path: str | Path) -> BaseLora:
    """``model.base_lora`` as a :class:`BaseLora` (file, rank and alpha read once)."""
    file = base_lora_file(path)
    rank, alpha = lora_rank_alpha(file)
    return BaseLora(file, rank, alpha, lora_record(file))


def base_lora_file(path: str | Path) -> Path:
    """The LoRA file ``model.base_lora`` names: the file itself, or the LoRA of a checkpoint
    folder or of a run folder's latest checkpoint (as its ``state.json`` recorded it)."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    ckpt = checkpoint_of(p) if p.is_dir() else None
    if ckpt is None:
        raise CheckpointError(
            f"{p}: no BokehNet run, checkpoint or LoRA file there (model.base_lora)"
        )
    state = read_state(ckpt)
    if state.get("base_lora"):
        was = state["base_lora"]["path"]
        raise CheckpointError(
            f"{ckpt}: a shape LoRA (trained on {was}); model.base_lora needs the base BokehNet run"
        )
    check_files(ckpt, state, (LORA_FILE,))
    if not (ckpt / LORA_FILE).is_file():
        raise CheckpointError(f"{ckpt / LORA_FILE}: missing (model.base_lora needs a LoRA run)")
    return ckpt / LORA_FILE


def lora_rank_alpha(file: Path) -> tuple[int, float]:
    """Rank (from the tensor shapes, without reading them) and alpha of a saved LoRA: the
    ``lora_alpha`` of the run that wrote it when its ``config.json`` is where a checkpoint puts
    it (``RUN/checkpoints/step-N/``), else alpha = rank (``save_lora`` does not store it)."""
    from safetensors import safe_open

    file = Path(file)
    try:
        with safe_open(str(file), "pt") as f:
            ranks = {f.get_slice(k).get_shape()[0] for k in f.keys() if ".lora_A." in k}
    except Exception as e:  # noqa: BLE001 - safetensors' own error type for a damaged file
        raise CheckpointError(f"{file}: unreadable ({one_line(e)})") from None
    if len(ranks) != 1:
        raise CheckpointError(f"{file}: not a LoRA of one rank (lora_A ranks {sorted(ranks)})")
    rank = ranks.pop()
    config = file.parent.parent.parent / "config.json"
    try:
        alpha = json.loads(config.read_text())["model"]["lora_alpha"] if config.is_file() else 0
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{config}: unreadable ({one_line(e)})") from None
    return rank, float(alpha or rank)


def lora_record(file: Path) -> dict:
    """What a shape run records of its base LoRA: the resolved path and its SHA-256."""
    return {"path": str(Path(file).resolve()), "sha256": sha256_file(file)}
