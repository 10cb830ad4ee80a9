"""train: the manifest-driven, distributed, semi-supervised DeblurNet / BokehNet trainer.

One plain-PyTorch worker loop (``loop.fit``) trains either network with the FLUX flow-matching
objective behind three launchers (in-process, ``torchrun``, Ray Train). Backbones: FLUX.1-dev
from a local path with a peft LoRA and OminiControl-style condition tokens (``seq`` or the
Genfocus-compatible ``branch`` mode), a tiny random-init FLUX through the same code, and a small
UNet. ``data/`` builds samples from ``synthetic_pairs`` and ``real_photos`` manifests. It may
import ``optics`` and ``manifests``, never ``synth`` or ``curate``.
"""
