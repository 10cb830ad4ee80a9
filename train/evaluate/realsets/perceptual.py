"""LPIPS and DISTS from local weight files: torchvision backbones built with ``weights=None`` and
loaded from the file the user gives; nothing is downloaded.

* :class:`LPIPS` (Zhang et al., CVPR 2018, version 0.1 of the ``lpips`` package): the images in
  [-1, 1] are shifted and scaled (``shift = (-.030, -.088, -.188)``, ``scale = (.458, .448,
  .450)``), five ReLU stages of AlexNet (``features[0:2]``, ``[2:5]``, ``[5:8]``, ``[8:10]``,
  ``[10:12]``) or VGG-16 (``[0:4]``, ``[4:9]``, ``[9:16]``, ``[16:23]``, ``[23:30]``) are
  unit-normalised over channels (``x / (‖x‖ + 1e-10)``), their squared differences weighted by
  the learned 1×1 layers ``lin0``-``lin4``, averaged over space and summed over stages.
* :class:`DISTS` (Ding et al., TPAMI 2020): VGG-16 with its max-pools replaced by L2 pooling
  (a 3×3 Hann window ``[.5, 1, .5]``², stride 2), the image in [0, 1] and five stages; per
  channel the structure term ``(2 μx μy + c)/(μx² + μy² + c)`` and the texture term ``(2 σxy +
  c)/(σx² + σy² + c)`` (``c = 1e-6``), weighted by ``alpha`` and ``beta`` (normalised by their
  sum); ``DISTS = 1 − Σ``.

A weights file is one state dict (``torch.save``, read with ``weights_only=True``, or
``.safetensors``) holding the backbone's torchvision keys (``features.N.weight``, ...; the
``classifier.*`` keys of a whole torchvision checkpoint are ignored) and the metric's own keys
(LPIPS: ``lin0.model.1.weight`` ... ``lin4.model.1.weight``, as the ``lpips`` package saves them;
DISTS: ``alpha`` and ``beta``, as DISTS_pytorch's ``weights.pt``): docs/real-datasets.md shows
how to merge the published files into one. LPIPS picks AlexNet or VGG-16 from the first
convolution's kernel (11×11 or 3×3). A file that is not such a state dict is one
:class:`RealSetError` line naming it. Both metrics are 0 for identical images and symmetric.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from train.evaluate.realsets.files import RealSetError, one_line

LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_SLICES = {"alex": (0, 2, 5, 8, 10, 12), "vgg": (0, 4, 9, 16, 23, 30)}
LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
MIN_SIDE = {"alex": 31, "vgg": 16, "dists": 16}  # the smallest side every stage still sees
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_state(path: str) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (a tensor per key); one line naming the file otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        why = "is not a file" if os.path.exists(path) else "does not exist"
        raise RealSetError(path, f"the weights file {why}")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            sd = load_file(path)
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch and safetensors raise many kinds on a corrupt file
        raise RealSetError(
            path, f"not a readable weights file ({one_line(e) or type(e).__name__})"
        ) from None
    if not isinstance(sd, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise RealSetError(path, "not a state dict (names to tensors)")
    return sd


def _take(sd: dict, key: str, shape: tuple, path: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise RealSetError(path, f"no key {key!r}: not {what} (docs/real-datasets.md)")
    t = sd[key]
    if tuple(t.shape) != tuple(shape) or not torch.isfinite(t).all():
        raise RealSetError(path, f"{key} is {tuple(t.shape)}, expected finite {tuple(shape)}")
    return t.float()


def _load_features(features: torch.nn.Sequential, sd: dict, path: str, what: str) -> None:
    own = features.state_dict()
    loaded = {k: _take(sd, f"features.{k}", v.shape, path, what) for k, v in own.items()}
    features.load_state_dict(loaded)
    features.eval().requires_grad_(False)


def _vgg16_features() -> torch.nn.Sequential:
    """VGG-16's convolutional part as torchvision builds it (configuration D), untrained."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["D"], batch_norm=False)


def _check_size(img: torch.Tensor, net: str, label: str) -> None:
    if min(img.shape[-2:]) < MIN_SIDE[net]:
        h, w = img.shape[-2:]
        raise RealSetError(
            label, f"needs images of at least {MIN_SIDE[net]} px a side, got {w}x{h} px"
        )


class LPIPS(torch.nn.Module):
    """LPIPS distance of two [B, 3, H, W] batches in [-1, 1] (see the module docstring)."""

    def __init__(self, path: str):
        super().__init__()
        sd = load_state(path)
        first = sd.get("features.0.weight")
        kernel = tuple(first.shape[-2:]) if isinstance(first, torch.Tensor) else None
        self.net = {(11, 11): "alex", (3, 3): "vgg"}.get(kernel)
        if self.net is None:
            raise RealSetError(path, "no AlexNet or VGG-16 features.0.weight: not LPIPS weights")
        if self.net == "alex":
            from torchvision.models import alexnet

            self.features = alexnet(weights=None).features
        else:
            self.features = _vgg16_features()
        _load_features(self.features, sd, path, f"LPIPS ({self.net}) weights")
        self.lins = [
            _take(sd, f"lin{k}.model.1.weight", (1, c, 1, 1), path, "LPIPS weights")
            for k, c in enumerate(LPIPS_CHANNELS[self.net])
        ]
        self.label = f"LPIPS ({self.net}, {os.path.basename(path)})"

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        shift = torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1)
        scale = torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1)
        h, out, cuts = (x - shift) / scale, [], LPIPS_SLICES[self.net]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            h = self.features[a:b](h)
            out.append(h / (torch.sqrt((h * h).sum(1, keepdim=True)) + 1e-10))
        return out

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_size(a, self.net, self.label)
        fa, fb = self.stages(a.float()), self.stages(b.float())
        total = torch.zeros(a.shape[0])
        for x, y, w in zip(fa, fb, self.lins, strict=True):
            total += F.conv2d((x - y) ** 2, w).mean((1, 2, 3))
        return total


class L2Pool(torch.nn.Module):
    """DISTS' L2 pooling: ``sqrt(hann3x3 * x²)`` at stride 2, per channel."""

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([0.5, 1.0, 0.5])
        g = a[:, None] * a[None, :]
        self.register_buffer("kernel", (g / g.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
        return torch.sqrt(y + 1e-12)


class DISTS(torch.nn.Module):
    """DISTS distance of two [B, 3, H, W] batches in [-1, 1] (see the module docstring)."""

    def __init__(self, path: str):
        super().__init__()
        sd = load_state(path)
        vgg = _vgg16_features()
        _load_features(vgg, sd, path, "DISTS weights (VGG-16)")
        cuts = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
        self.stages = torch.nn.ModuleList()
        for i, (a, b) in enumerate(cuts):
            pool = [L2Pool(DISTS_CHANNELS[i])] if i else []
            self.stages.append(torch.nn.Sequential(*pool, *vgg[a:b]))
        shape = (1, sum(DISTS_CHANNELS), 1, 1)
        alpha = _take(sd, "alpha", shape, path, "DISTS weights")
        beta = _take(sd, "beta", shape, path, "DISTS weights")
        total = alpha.sum() + beta.sum()
        if not total > 0:
            raise RealSetError(path, "alpha and beta must sum to a positive weight")
        self.alpha = torch.split(alpha / total, DISTS_CHANNELS, dim=1)
        self.beta = torch.split(beta / total, DISTS_CHANNELS, dim=1)
        self.label = f"DISTS ({os.path.basename(path)})"

    def features(self, x01: torch.Tensor) -> list[torch.Tensor]:
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        h, out = (x01 - mean) / std, [x01]
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_size(a, "dists", self.label)
        fa = self.features((a.float().clamp(-1, 1) + 1) / 2)
        fb = self.features((b.float().clamp(-1, 1) + 1) / 2)
        s1 = s2 = torch.zeros(a.shape[0], 1, 1, 1)
        c = 1e-6
        for x, y, al, be in zip(fa, fb, self.alpha, self.beta, strict=True):
            mx, my = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
            s1 = s1 + (al * (2 * mx * my + c) / (mx**2 + my**2 + c)).sum(1, keepdim=True)
            vx = ((x - mx) ** 2).mean((2, 3), keepdim=True)
            vy = ((y - my) ** 2).mean((2, 3), keepdim=True)
            cov = (x * y).mean((2, 3), keepdim=True) - mx * my
            s2 = s2 + (be * (2 * cov + c) / (vx + vy + c)).sum(1, keepdim=True)
        return 1.0 - (s1 + s2).flatten()
