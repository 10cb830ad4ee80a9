"""train: the manifest-driven, distributed, semi-supervised DeblurNet / BokehNet trainer.

Not built yet (issue 5). It will read ``synthetic_pairs`` and ``real_photos`` manifests and train
LoRA adapters on FLUX.1-dev (local path) or tiny random-init backbones on a CPU. It may import
``optics`` and ``manifests``, never ``synth`` or ``curate``.
"""
