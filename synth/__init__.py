"""synth: the headless Blender (Cycles) render farm for the physically based paired set.

Each scene id gets a ``SceneSpec`` (``spec``: plain dataclasses with a JSON round trip and a
content hash) sampled with pure numpy from ``(dataset_seed, scene_id, pool hash)``
(``sampling``, driven by ``config``): a procedural scene, or a photographic one (layered photo
cards, photo-textured objects) built from the photo pool (``pool``: curate's ``real_photos``, a
folder, or scikit-image's embedded photos, read through ``infra.images``); ``imagestats`` and
``stats_report`` compare the renders' natural-image statistics with the pool's. ``blender/``
(the only ``bpy`` user) builds the scene and renders its depth, its
all-in-focus image and several thin-lens depth-of-field renders; ``worker`` derives the exact
labels with ``optics`` (signed CoC map, K, ``disp_focus``), writes the files (``io``: JPEGs with
camera EXIF, atomic JSON) into a scene folder committed atomically with a done marker
(``shard``), and gathers each shard's scenes into a ``synthetic_pairs`` manifest part, its
rejects, stats and a contact sheet (``contact_sheet``). ``launch`` runs the same worker in this
process, in a local process pool, as one task of an array job (``--shard k/n``) or as Ray
tasks; ``cli`` is ``python -m synth render``, and ``python -m synth report`` (``report``: the
all-in-focus images' natural-image statistics by scene kind against the photo pool, measured
by ``imagestats`` and written by ``stats_report``). It may import ``optics`` and ``manifests``,
never ``curate`` or ``train``.
"""
