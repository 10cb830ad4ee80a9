"""train.data: training samples from manifests, for DeblurNet and BokehNet.

``build`` turns one ``synthetic_pairs`` row into a sample (random rescale + crop that rescales
the GenRefocus K, defocus map from the row's own depth); ``real_route`` prepares ``real_photos``
rows for BokehNet stage 2 (pseudo all-in-focus image, estimated depth, in-focus mask from
``focus``, ``disp_focus`` and K from EXIF); ``torch_source`` is the map-style dataset and split
logic, ``ray_source`` feeds the very same sample builder through Ray Data, ``mixture`` draws
synthetic/real indices in a set ratio with a resumable position; ``depth`` holds the pluggable
depth estimators. It may import ``optics``, ``manifests``, numpy, PIL, pyarrow and torch; only
``depth`` and ``focus`` import transformers (lazily) and only ``ray_source`` imports Ray. It never
imports ``synth`` or ``curate``.
"""
