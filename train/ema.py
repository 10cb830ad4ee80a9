"""Exponential moving average of the trainable weights (``optim.ema_decay``).

The decay of update ``n`` (the optimiser step, so a resumed run repeats it) is
``min(decay, (1 + n) / (10 + n))``: early averages forget the random or identity initialisation
quickly. Evaluation, final metrics and inference use the average; checkpoints keep it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from train.checkpoint import EMA_FILE, apply_ema, check_weights


class WeightEMA:
    """Moving average of ``denoiser``'s trainable parameters, by name."""

    def __init__(self, denoiser: torch.nn.Module, decay: float):
        named = [(n, p) for n, p in denoiser.named_parameters() if p.requires_grad]
        self.decay = decay
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow, strict=True))

    def load_state_dict(self, sd: dict[str, torch.Tensor], where: Path) -> None:
        check_weights(sd, self.state_dict(), Path(where) / EMA_FILE)
        with torch.no_grad():
            for n, t in zip(self.names, self.shadow, strict=True):
                t.copy_(sd[n])

    @contextlib.contextmanager
    def applied(self, denoiser: torch.nn.Module):
        """The averaged weights in the model for the ``with`` body, the raw ones after."""
        raw = {n: p.detach().clone() for n, p in zip(self.names, self.params, strict=True)}
        apply_ema(denoiser, self.state_dict(), Path("<ema>"))
        try:
            yield
        finally:
            apply_ema(denoiser, raw, Path("<raw>"))


def averaged(ema: WeightEMA | None, denoiser: torch.nn.Module):
    """``ema.applied(denoiser)``, or a no-op context without an average."""
    return ema.applied(denoiser) if ema is not None else contextlib.nullcontext()
