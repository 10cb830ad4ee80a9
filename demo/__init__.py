"""demo: the main job end to end on an embedded default (``make demo``).

Renders a small synthetic set with Blender, curates its EXIF JPEGs (plus any photo folder the
user names) with the Ray job, trains tiny DeblurNet and BokehNet (stage 2 through the real-photo
route), evaluates, refocuses a held-out image at three focus settings and writes a
self-contained ``report.html``. Each stage resumes; it only calls the public entry points of
``synth``, ``curate`` and ``train``.
"""
