"""curate: the Ray job that turns folders and buckets of real photos into Parquet manifests.

Not built yet (issue 4). It will read EXIF, filter, decode, score (CLIP) and deduplicate photos,
keeping every rejected file with its reason; ``curate/job.py`` will be the only Ray module. It may
import ``optics`` and ``manifests``, never ``synth`` or ``train``.
"""
