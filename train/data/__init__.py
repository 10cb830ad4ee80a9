"""train.data: training samples from manifests, for DeblurNet and BokehNet.

``build`` turns one ``synthetic_pairs`` row into a sample (random rescale + crop that rescales
the GenRefocus K, defocus map from the row's own depth); ``real_route`` prepares ``real_photos``
rows for BokehNet stage 2 (pseudo all-in-focus image, estimated depth, in-focus mask from
``focus``, ``disp_focus`` and K from EXIF); ``split`` holds out whole scenes; ``feed`` is what the
loop trains on (``TrainData`` and the resumable batch sources: map-style here, the Ray Data
stream in ``ray_source``, which feeds the very same sample builder); ``mixture`` draws
synthetic/real indices in a set ratio with a resumable position; ``depth`` holds the pluggable
depth estimators; ``aperture`` is the manifest side of apertures (a row's kernel, ``--aperture``).
The conditions themselves are ``train.conditions``'. It may import ``optics``, ``infra``,
``manifests``, numpy, PIL, pyarrow and torch; only
``depth`` and ``focus`` import transformers (lazily) and only ``ray_source`` imports Ray. It never
imports ``synth`` or ``curate``.
"""
