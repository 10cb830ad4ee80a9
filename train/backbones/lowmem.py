"""A low-memory frozen FLUX base (``model.base_weights``): its weights in bfloat16, or its Linear
layers int8 weight-only, set before the LoRA is added (which then stays float32 and is all that
trains). ``set_base_weights(transformer, mode)`` does it in place: ``auto`` leaves the base as it
was built or loaded, ``float32`` / ``bfloat16`` cast it, ``int8`` casts it to bfloat16 and
replaces every ``torch.nn.Linear`` weight by torchao's ``Int8Tensor`` (int8 values, one scale per
output row; ``Int8WeightOnlyConfig``): activations and gradients stay bfloat16 and a layer's
matmul converts its int8 weight on the fly. torchao is PyTorch's own quantisation library and
peft puts LoRA layers on its tensors (``peft.tuners.lora.torchao.TorchaoLoraLinear``: forward and
backward through the int8 base). No size rule: every Linear is quantised, the 32 × 32 ones of
the tiny FLUX included (tested on the CPU; the weight-only matmul is a plain ``torch.mm`` of the
int8 values cast to the activations' dtype, then the row scales, on any device). Merging a
LoRA into an int8 base needs a quantisation recipe peft only finds on a model loaded quantised
by diffusers, so it is not supported and never done here: a checkpoint holds the LoRA alone,
which loads onto any base.
``base_bytes`` counts what a module's weights hold (an int8 tensor's values and scales).
"""

from __future__ import annotations

import contextlib
import warnings

import torch

BASE_WEIGHTS = ("auto", "float32", "bfloat16", "int8")


def load_dtype(base_weights: str, autocast_dtype: str) -> torch.dtype:
    """The dtype to load a FLUX.1 folder's transformer in: ``base_weights``' float type
    (``int8`` quantises a bfloat16 load), ``auto`` the autocast dtype (``model.dtype``)."""
    name = autocast_dtype if base_weights == "auto" else base_weights
    return torch.float32 if name == "float32" else torch.bfloat16


def set_base_weights(transformer: torch.nn.Module, mode: str) -> torch.nn.Module:
    """The frozen base's weights in ``mode`` (see the module docstring); call it before the
    LoRA is added. ``auto`` changes nothing; any other mode freezes every parameter."""
    if mode not in BASE_WEIGHTS:
        raise ValueError(f"base weights {mode!r}: expected one of {', '.join(BASE_WEIGHTS)}")
    if mode == "auto":
        return transformer
    transformer.requires_grad_(False)
    # torch's own `to`: diffusers' logs a note on every cast that its list of modules to keep
    # in float32 is not honoured, and FLUX's list is empty
    torch.nn.Module.to(transformer, torch.float32 if mode == "float32" else torch.bfloat16)
    if mode == "int8":
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        # set_inductor_config: leave torch.compile's global settings alone
        quantize_(transformer, Int8WeightOnlyConfig(set_inductor_config=False))
    return transformer


@contextlib.contextmanager
def quiet_int8_lora():
    """peft warns for every LoRA layer on an int8 base that ``merge()`` is unavailable without a
    diffusers-loaded quantisation recipe; nothing here merges, so that warning is dropped."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "TorchaoLoraLinear was instantiated without")
        yield


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor holds; a tensor subclass (torchao's ``Int8Tensor``) counts its inner
    tensors (int8 values and scales)."""
    if type(t) not in (torch.Tensor, torch.nn.Parameter) and hasattr(t, "__tensor_flatten__"):
        names, _ = t.__tensor_flatten__()  # Int8Tensor: qdata, scale, zero_point
        return sum(tensor_bytes(x) for n in names if (x := getattr(t, n)) is not None)
    return t.numel() * t.element_size()


def base_bytes(module: torch.nn.Module) -> int:
    """Bytes of ``module``'s frozen parameters (the base under a LoRA)."""
    return sum(tensor_bytes(p) for p in module.parameters() if not p.requires_grad)


def is_int8(t: torch.Tensor) -> bool:
    """``t`` is a torchao int8 weight (its values int8)."""
    return getattr(t, "qdata", None) is not None and t.qdata.dtype == torch.int8
