"""synth: the headless Blender (Cycles) render farm for the physically based paired set.

Not built yet (issue 3). It will sample scene specs with pure numpy, render them through
``synth/blender/`` (the only ``bpy`` user) and write ``synthetic_pairs`` manifests; it may import
``optics`` and ``manifests``, never ``curate`` or ``train``.
"""
