"""curate: the Ray job that turns folders and buckets of real photos into Parquet manifests.

It lists inputs (local folders, ``s3://``/``gs://`` prefixes) into deterministic shards; pass 1
reads the first 128 KiB of each file for EXIF (``exif``; the block located and read tolerantly
by ``exifblock``) and applies the aperture / focal-length / size filters (``filters``); pass 2
reads survivors fully, decodes them with a real decode check (``decode``; HEIF items checked by
``isobmff``), computes weight-free quality signals (``quality``), CLIP scores from a local
checkpoint (``scoring``) and content / perceptual hashes, drops duplicates across all shards
(``dedup``, ``merge``) and writes ``real_photos`` and ``rejects`` manifests, ``stats.json``
(``stats``) and a summary (``summary``) into the output folder (``outputs``). Every input ends
up kept or rejected with a reason. ``listing``, ``exif``, ``exifblock``, ``isobmff``,
``filters``, ``decode``, ``quality``, ``dedup``, ``passes``, ``merge``, ``stats`` and ``outputs``
are pure (no Ray, no torch); ``scoring`` is the only torch user and ``job`` the only Ray user
(tasks, the CLIP actor pool and the CLI). It may import ``optics`` and ``manifests``, never
``synth`` or ``train``.
"""
