"""Checkpoints: the LoRA in diffusers format plus everything needed to resume exactly.

``RUN/checkpoints/step-000300/`` holds ``pytorch_lora_weights.safetensors`` (written by
``FluxPipeline.save_lora_weights``, loadable with ``pipe.load_lora_weights``) when the backbone
has a LoRA, ``trainable.safetensors`` for fully trained tiny models, ``ema.safetensors`` (the
moving average of every trainable parameter by name, when ``optim.ema_decay > 0``; inference
loads it over the raw weights, a resumed run restores it as is), ``optimizer.pt`` and
``scheduler.pt`` (tensors and plain containers only, read back with ``weights_only=True``), and
``state.json`` (step, data cursor, Python/NumPy RNG, losses, and the size and SHA-256 of every
other file). Rank 0 writes into a hidden temp folder and renames it; ``LATEST`` names the newest
complete checkpoint. Nothing is unpickled.

Loading is strict: the files ``state.json`` lists must be there with the size and hash they were
written with, a weights file must hold exactly the model's trainable tensors (by name and shape;
the LoRA's for a LoRA model), all finite. Anything else is a :class:`CheckpointError` whose
``str()`` is one line naming the file, never a silent fall-back to untrained weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from infra.errors import one_line

LORA_FILE = "pytorch_lora_weights.safetensors"
TRAINABLE_FILE = "trainable.safetensors"
EMA_FILE = "ema.safetensors"
WEIGHT_FILES = (LORA_FILE, TRAINABLE_FILE, EMA_FILE)
RESUME_FILES = ("optimizer.pt", "scheduler.pt", "rng.pt")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as it is; ``str()`` is one line naming the file."""


def _trainable_state(denoiser: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().cpu().contiguous()
        for n, p in denoiser.named_parameters()
        if p.requires_grad and "lora_" not in n
    }


def save_lora(lora_module, folder: Path, adapter: str = "default") -> None:
    """The peft adapter ``adapter`` alone, as a diffusers LoRA file."""
    from diffusers import FluxPipeline
    from peft.utils import get_peft_model_state_dict

    FluxPipeline.save_lora_weights(
        folder,
        transformer_lora_layers=get_peft_model_state_dict(lora_module, adapter_name=adapter),
        safe_serialization=True,
    )


def load_lora(lora_module, path: Path, adapter: str = "default") -> None:
    """The LoRA of ``path`` into ``lora_module``'s adapter ``adapter``: exactly its LoRA tensors
    (names, shapes)."""
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    sd = read_weights(path)
    sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    check_weights(sd, get_peft_model_state_dict(lora_module, adapter_name=adapter), path)
    result = set_peft_model_state_dict(lora_module, sd, adapter_name=adapter)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise CheckpointError(f"{path}: LoRA keys not in this model, e.g. {unexpected[:3]}")


def check_base_lora(path: Path, state: dict, base: dict | None) -> None:
    """The model's base LoRA (``Built.base_lora``) is the one the checkpoint was trained on."""
    want = state.get("base_lora")
    if want is None and base is not None:
        raise CheckpointError(
            f"{path}: trained without model.base_lora, this model has one (leave it out)"
        )
    if want is not None and base is None:
        raise CheckpointError(
            f"{path}: a shape LoRA trained on the base LoRA {want['path']}; set model.base_lora"
        )
    if want is not None and base["sha256"] != want["sha256"]:
        raise CheckpointError(
            f"{base['path']}: differs from the base LoRA {path} was trained on (SHA-256 "
            f"{want['sha256'][:12]}, now {base['sha256'][:12]}); restore that file"
        )


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """A safetensors file whose tensors are all finite; CheckpointError naming it otherwise."""
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    try:
        sd = load_file(str(file))
    except Exception as e:  # noqa: BLE001 - safetensors' own error type for a damaged file
        raise CheckpointError(f"{file}: unreadable ({one_line(e)})") from None
    bad = [n for n, t in sd.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{file}: non-finite values (NaN or inf) in {bad[:3]}")
    return sd


def check_weights(sd: dict, expected: dict, where: Path) -> None:
    """``sd`` has exactly the names of ``expected``, each with its shape (shared names are
    compared first: a tensor of another shape tells more than a missing one, e.g. a BokehNet
    with the shape condition has both more input channels and a kernel embedding)."""
    for name, want in expected.items():
        if name in sd and tuple(sd[name].shape) != tuple(want.shape):
            got, want = tuple(sd[name].shape), tuple(want.shape)
            raise CheckpointError(f"{where}: {name} has shape {got}, the model's is {want}")
    missing, extra = sorted(set(expected) - set(sd)), sorted(set(sd) - set(expected))
    if missing:
        n = len(missing)
        raise CheckpointError(f"{where}: {n} tensor(s) of the model missing: {missing[:3]}")
    if extra:
        raise CheckpointError(f"{where}: {len(extra)} tensor(s) not in the model: {extra[:3]}")


def sha256_file(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(folder: Path) -> dict[str, dict]:
    """Size and SHA-256 of every file in ``folder`` (written into ``state.json``)."""
    files = sorted(f for f in folder.iterdir() if f.is_file())
    return {f.name: {"bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files}


def check_files(path: Path, state: dict, names) -> None:
    """The files ``names`` that ``state.json`` lists are there as they were written
    (checkpoints written before the record existed are not checked)."""
    record = state.get("files") or {}
    for name in names:
        if name not in record:
            continue
        f, want = Path(path) / name, record[name]
        if not f.is_file():
            raise CheckpointError(f"{f}: missing (state.json lists it)")
        size = f.stat().st_size
        if size != want["bytes"]:
            raise CheckpointError(f"{f}: {size} bytes, {want['bytes']} were written (truncated?)")
        if sha256_file(f) != want["sha256"]:
            raise CheckpointError(f"{f}: contents differ from what was written (SHA-256)")


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
    extra: dict | None = None,
) -> Path:
    ckpt_root = Path(run_dir) / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    tmp = ckpt_root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if built.lora_module is not None:
        save_lora(built.lora_module, tmp, built.lora_adapter)
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
        "files": _file_record(tmp),
        **(extra or {}),  # e.g. blur_max_px, the largest blur radius training saw
    }
    if built.base_lora is not None:  # a shape LoRA: the base it was trained on
        state["base_lora"] = built.base_lora
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
    """The checkpoint ``LATEST`` names (None without a marker); a marker naming a folder without
    ``state.json`` is a CheckpointError (resuming must not silently start over)."""
    marker = Path(run_dir) / "checkpoints" / "LATEST"
    if not marker.is_file():
        return None
    try:
        name = marker.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{marker}: unreadable ({one_line(e)})") from None
    path = marker.parent / name
    if not name or not (path / "state.json").is_file():
        raise CheckpointError(f"{marker}: names {name!r}, which has no state.json")
    return path


def checkpoint_of(path: Path) -> Path | None:
    """``path`` when it is a checkpoint folder, else the latest checkpoint of run folder ``path``
    (None when it has none)."""
    path = Path(path)
    return path if (path / "state.json").is_file() else latest_checkpoint(path)


def load_ema(path: Path) -> dict[str, torch.Tensor] | None:
    """The checkpoint's moving-average weights by parameter name (None when it has none)."""
    f = Path(path) / EMA_FILE
    return read_weights(f) if f.is_file() else None


def apply_ema(denoiser: torch.nn.Module, ema: dict[str, torch.Tensor], where: Path) -> None:
    """Copy moving-average weights into the denoiser's trainable parameters of the same name."""
    params = {n: p for n, p in denoiser.named_parameters() if p.requires_grad}
    check_weights(ema, params, where)
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(ema[n])


def load_checkpoint(
    path: Path,
    built,
    optimizer=None,
    scheduler=None,
    prefer_ema: bool = False,
    state: dict | None = None,
) -> dict:
    """Restore weights (and optimiser, scheduler, RNG when given); returns ``state.json``
    (``state``: the one the caller already read, ``train.runs.open_run``).

    ``prefer_ema``: load the moving-average weights where the checkpoint has them (inference and
    weights-only starts); resuming loads the raw weights and restores the average separately.
    Raises :class:`CheckpointError` for anything that does not fit (module docstring).
    """
    path = Path(path)
    state = read_state(path) if state is None else state
    resuming = optimizer is not None or scheduler is not None
    check_files(path, state, WEIGHT_FILES + (RESUME_FILES if resuming else ()))
    check_base_lora(path, state, built.base_lora)
    if built.lora_module is not None:
        load_lora(built.lora_module, path / LORA_FILE, built.lora_adapter)
    elif (path / LORA_FILE).is_file():
        raise CheckpointError(f"{path / LORA_FILE}: a LoRA, but this model has none")
    load_trainable(built.denoiser, path / TRAINABLE_FILE)
    ema = load_ema(path) if prefer_ema else None
    if ema is not None:
        apply_ema(built.denoiser, ema, path / EMA_FILE)
    if resuming:
        _restore_training(path, state, optimizer, scheduler)
    return state


def check_checkpoint(path: Path, weights_only: bool = False) -> dict:
    """``state.json`` and the files it lists (the weights only, for ``init_from``) as written,
    without a model: a launcher's driver checks before its workers load; returns the state."""
    state = read_state(path)
    check_files(path, state, WEIGHT_FILES if weights_only else state.get("files") or {})
    return state


def read_state(path: Path) -> dict:
    """A checkpoint's ``state.json``; CheckpointError naming it when unreadable."""
    f = Path(path) / "state.json"
    try:
        state = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{f}: unreadable ({one_line(e)})") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(f"{f}: not a checkpoint state (no integer step)")
    if not isinstance(state.get("losses"), list) or not isinstance(state.get("cursor"), dict):
        raise CheckpointError(f"{f}: not a checkpoint state (no losses or data cursor)")
    return state


def load_trainable(denoiser: torch.nn.Module, file: Path) -> None:
    """The fully trained (non-LoRA) parameters: exactly the model's, by name and shape. A model
    whose only trainable tensors are a LoRA has no such file."""
    expected = {
        n: p for n, p in denoiser.named_parameters() if p.requires_grad and "lora_" not in n
    }
    if not expected and not Path(file).exists():
        return
    sd = read_weights(file)
    check_weights(sd, expected, file)
    denoiser.load_state_dict(sd, strict=False)  # the frozen rest is rebuilt from the config


def _read_torch(file: Path):
    try:
        return torch.load(file, weights_only=True)
    except Exception as e:  # noqa: BLE001 - missing, truncated or not a torch file
        raise CheckpointError(f"{file}: unreadable ({one_line(e)})") from None


def _restore_training(path: Path, state: dict, optimizer, scheduler) -> None:
    """Optimiser, schedule and RNG states of a resumed run."""
    try:
        if optimizer is not None:
            opt_state = _read_torch(path / "optimizer.pt")
            moments = [t for s in opt_state["state"].values() for t in s.values()]
            if any(torch.is_tensor(t) and not torch.isfinite(t).all() for t in moments):
                raise CheckpointError(f"{path / 'optimizer.pt'}: non-finite optimiser state")
            optimizer.load_state_dict(opt_state)
        if scheduler is not None:
            scheduler.load_state_dict(_read_torch(path / "scheduler.pt"))
        if optimizer is None:
            return
        torch.set_rng_state(_read_torch(path / "rng.pt")["torch"])
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
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot resume from it ({one_line(e)})") from None
