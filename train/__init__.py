"""train: the manifest-driven, distributed, semi-supervised DeblurNet / BokehNet trainer.

One plain-PyTorch worker loop (``loop.fit``: a config, the run's data, a batch source, a
context and hooks) trains either network with the FLUX flow-matching objective behind three
launchers in ``launch/`` (in-process, ``torchrun``, Ray Train), which build the data feed.
Backbones: FLUX.1-dev from a local path with a peft LoRA and OminiControl-style condition tokens
(``seq`` or the Genfocus-compatible ``branch`` mode), a tiny random-init FLUX through the same
code, and a small UNet. ``data/`` builds samples from ``synthetic_pairs`` and ``real_photos``
manifests and feeds them to the loop. It may import ``optics`` and ``manifests``, never
``synth`` or ``curate``.
"""
