"""The latent cache: the frozen VAE encodes every training image once, not every epoch.

``python -m train cache`` (``train.launch.cache``; Ray Data on a cluster) and ``fit`` with
``data.latent_cache`` write, into one folder, safetensors shards of the VAE's latent
distribution (mean and standard deviation) of each image a training sample needs, at its fixed
crop (``data.random_crop = false``, an aspect bucket or the square). An image's key
(``train.latents.keys``) hashes what makes it: the codec (the VAE weights' SHA-256), the source
file's SHA-256, the crop and, for a defocus map, the focus and K, so a changed file or VAE is a
miss that is encoded again, never a stale hit. ``train.latents.store`` writes shards atomically
(two builders on one folder cannot corrupt each other), checks each shard's size and header when
a cache is opened and each latent's SHA-256 when it is read: a truncated or corrupt shard is one
line naming it, is removed and is encoded again, and is never trained on. Training from the cache
draws the latent sample from the stored distribution with the step's generator, exactly as
encoding on the fly does (``train.codecs``).
"""
