"""``python -m train cache``: encode a run's training images into its latent cache once.

The same rows, crops and keys as ``fit`` with the same config and manifests
(``train.data.feed.TrainData.split``, ``train.data.bucketed.row_crops``,
``train.latents``). ``--workers 0`` encodes in this process (what ``fit`` does itself for
whatever the cache lacks); ``--workers N`` spreads chunks of rows over N Ray Data actors (a
local Ray, or ``--ray-address`` with a folder every node sees), each loading the codec once and
writing its own shards. ``--verify`` first reads every stored latent and checks its SHA-256.
Bad input is one ``error:`` line and exit 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.config_file import add_set_argument, integer

MAX_CACHE_WORKERS = 4096
CHUNK_ROWS = 64  # rows per Ray task (the renders of a scene are neighbours in a manifest)


def add_parser(sub) -> None:
    c = sub.add_parser(
        "cache",
        help="encode the training images of a config + manifests into data.latent_cache",
        description="Writes safetensors shards of VAE latents (docs/train.md, 'The latent "
        "cache'); fit reads them when data.latent_cache names the folder.",
    )
    c.add_argument("--config", required=True, help="TOML file (or a name in train/configs/)")
    c.add_argument("--manifest", action="append", required=True, help="manifest root (repeat)")
    c.add_argument("--out", help="the cache folder (default: the config's data.latent_cache)")
    add_set_argument(c, "data.random_crop=false")
    c.add_argument(
        "--workers",
        type=integer(0, MAX_CACHE_WORKERS),
        default=0,
        help="Ray Data encoder actors (0: encode in this process)",
    )
    c.add_argument("--gpus-per-worker", type=integer(0, 64), default=0)
    c.add_argument("--ray-address", help="Ray cluster address (default: a local Ray)")
    c.add_argument("--verify", action="store_true", help="check every stored latent first")
    c.add_argument(
        "--device", choices=["cpu", "cuda"], help="where to encode (default: cuda if present)"
    )


def run_command(a) -> int:
    from manifests.io import ManifestError
    from train.config import TrainConfigError, load_train_config

    overrides = list(a.set or [])
    if a.out:
        overrides.append(f'data.latent_cache="{Path(a.out).resolve()}"')
    try:
        cfg = load_train_config(a.config, overrides)
        if cfg.data.latent_cache is None:
            raise ValueError(f"{a.config}: name the cache folder with --out or data.latent_cache")
        return _cache(cfg, a)
    except (TrainConfigError, ManifestError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _cache(cfg, a) -> int:
    import torch

    from train.data.bucketed import row_crops
    from train.data.feed import TrainData
    from train.latents.build import keys_of, row_keys
    from train.latents.keys import codec_id
    from train.latents.store import LatentStore, say_line

    t0 = time.perf_counter()
    rows, _ = TrainData.split(cfg, a.manifest)
    crops = row_crops(cfg, rows)
    folder = Path(cfg.data.latent_cache)
    store = LatentStore(folder, say_line)
    if a.verify:
        say_line(f"latent cache {folder}: {store.verify()} latents verified")
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if a.workers == 0:
        from train.latents.build import open_cache

        open_cache(cfg, rows, crops, device, say_line)
    else:
        _encode_with_ray(cfg, rows, crops, a)
    store.refresh()
    keys, _ = row_keys(rows, crops, cfg, store, codec_id(cfg))
    left = sum(bool(store.missing(keys_of(k))) for k in keys)
    shards = sorted(folder.glob("shard-*.safetensors"))
    size_mb = sum(p.stat().st_size for p in shards) / 1e6
    print(
        f"latent cache {folder}: {len(rows) - left}/{len(rows)} samples, {len(store.entries)} "
        f"latents in {len(shards)} shards, {size_mb:.1f} MB, {time.perf_counter() - t0:.1f} s"
    )
    return 0 if left == 0 else 1


class _Encoder:
    """A Ray Data actor: the codec loaded once; each batch is chunks of row indices."""

    def __init__(self, cfg_dict: dict, rows: list[dict], crops: list, device: str):
        from train.codecs import make_codec
        from train.config import train_config_from_dict

        self.cfg = train_config_from_dict(cfg_dict, "train cache")
        self.rows, self.crops, self.device = rows, crops, device
        self.codec = make_codec(self.cfg.model).to(device)

    def __call__(self, batch: dict) -> dict:
        from train.latents.build import encode_missing, row_keys
        from train.latents.keys import codec_id
        from train.latents.store import LatentStore

        store = LatentStore(self.cfg.data.latent_cache)
        written = []
        for start in batch["start"]:
            rows = self.rows[int(start) : int(start) + CHUNK_ROWS]
            crops = self.crops[int(start) : int(start) + CHUNK_ROWS]
            keys, hashes = row_keys(rows, crops, self.cfg, store, codec_id(self.cfg))
            n = encode_missing(rows, crops, keys, self.cfg, self.codec, store, hashes, self.device)
            written.append(n)
        return {"written": written}


def _encode_with_ray(cfg, rows, crops, a) -> None:
    import ray

    from infra.ray_start import start_ray

    started = start_ray(a.ray_address)
    try:
        _run_encoders(cfg, rows, crops, a)
    finally:
        if started:
            ray.shutdown()


def _run_encoders(cfg, rows, crops, a) -> None:
    import ray

    from train.latents.store import say_line

    starts = [{"start": s} for s in range(0, len(rows), CHUNK_ROWS)]
    gpus = a.gpus_per_worker
    ds = ray.data.from_items(starts).map_batches(
        _Encoder,
        fn_constructor_kwargs={
            "cfg_dict": cfg.to_dict(),
            "rows": rows,
            "crops": crops,
            "device": a.device or ("cuda" if gpus else "cpu"),  # the actors', not the driver's
        },
        batch_size=1,
        concurrency=a.workers,
        num_gpus=gpus or None,
    )
    total = 0
    for batch in ds.iter_batches(batch_size=None):
        total += int(sum(batch["written"]))
        say_line(f"latent cache: {total} latents written")
