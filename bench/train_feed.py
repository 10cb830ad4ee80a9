"""The training data feed at FLUX sizes: samples per CPU-second, on the fly and from the latent
cache, against the bare decode of the same files, and the feed's memory over many samples.

For each ``--sizes`` S (training crops of about S² px in the ``data.bucket_aspects`` of
docs/train.md), a manifest of ``--frames`` 3:2 scenes of 1.5·S × S px (random smooth textures,
one DoF render and a metric depth each) is written, and BokehNet samples (target, AIF, defocus
map: three images) are built by ``train.data.feed.MapStyleSource`` in this process on one
thread, with the decoded-image cache off so every sample decodes its files:
(a) bare decode: PIL decodes the two PNGs and NumPy reads the depth, nothing else;
(b) on the fly: the feed as ``fit`` runs it (decode, random rescale and crop, defocus map, collate);
(c) cached: ``data.latent_cache`` built once with the VAE of a random-init ``small`` FLUX folder
    (FLUX.1-dev's VAE architecture: 16 channels, 8x down), then the feed reading the moments.
Rates are samples per CPU-second of this process (so per core, whatever else runs). Memory: the
process RSS every ``--samples``/20 samples; growth is the peak minus the RSS after the first
twentieth. The encode cost per image and the cache's bytes per sample are printed too (CPU; the
GPU figures are ``bench/flux_gpu.py``'s).

  .venv/bin/python bench/train_feed.py [--sizes 512,1024] [--feed-samples 10000] [--frames 8]
  .venv/bin/python bench/train_step.py --feed 512,1024 ...   # the same, from train_step.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ASPECTS = ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"]


def write_set(root: Path, frames: int, size_px: int) -> None:
    """``frames`` scenes of one DoF render each, 1.5·size × size px, valid ``synthetic_pairs``."""
    import numpy as np
    from PIL import Image, ImageFilter

    from manifests import write_part
    from manifests.example import synthetic_rows

    rng = np.random.default_rng(0)
    w, h = size_px * 3 // 2, size_px
    rows = synthetic_rows(frames, 1)
    for row in rows:
        small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
        aif = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        dof = aif.filter(ImageFilter.GaussianBlur(3))
        row.update(width_px=w, height_px=h, k_ref_width_px=w, split="train")
        row.update(aperture_kernel_path=None, aperture_shape_id=None, aperture_blades=0)
        for key, img in (("aif_path", aif), ("bokeh_path", dof), ("bokeh_jpeg_path", dof)):
            (root / row[key]).parent.mkdir(parents=True, exist_ok=True)
            img.save(root / row[key])
        near_m = 1.0 + 0.1 * row["scene_id"]  # every scene its own depth (and map)
        depth = np.linspace(near_m, 5.0, w, dtype=np.float32)[None].repeat(h, 0)
        np.save(root / row["depth_path"], depth)
        np.save(root / row["coc_path"], np.zeros((h, w), np.float32))
    write_part(rows, root, "synthetic_pairs", 0)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def bare_rate(root: Path, n: int) -> float:
    """Samples per CPU-second of decoding the two PNGs and reading the depth."""
    import numpy as np
    from PIL import Image

    from train.data.build import load_rows

    rows = load_rows([str(root)], "synthetic_pairs")
    t0 = time.process_time()
    for i in range(n):
        r = rows[i % len(rows)]
        for key in ("aif_path", "bokeh_path"):
            np.asarray(Image.open(root / r[key]).convert("RGB"))
        np.load(root / r["depth_path"])
    return n / (time.process_time() - t0)


def feed_rate(cfg, root: Path, n: int) -> tuple[float, list[float]]:
    """Samples per CPU-second of ``MapStyleSource`` in this process, and the RSS (MB) every
    twentieth of the run."""
    from train.data.feed import MapStyleSource, TrainData

    data = TrainData.load(cfg, [str(root)])
    b = cfg.optim.batch_size
    steps = max(1, n // b)
    every = max(1, steps // 20)
    memory = []
    t0 = time.process_time()
    for s, _ in enumerate(MapStyleSource(data).steps(0, steps)):
        if s % every == every - 1:
            memory.append(rss_mb())
    return steps * b / (time.process_time() - t0), memory


def config(flux: Path, size_px: int, cache: Path | None):
    from train.config import load_train_config

    sets = [
        f'model.path="{flux}"',
        f"data.resolution_px={size_px}",
        f"data.bucket_aspects={ASPECTS}",
        "data.decode_cache_mb=0",
        "data_workers=0",
        "optim.batch_size=1",
        "optim.grad_accum=1",
    ]
    if cache is not None:
        sets += ["data.random_crop=false", f'data.latent_cache="{cache}"']
    return load_train_config("bokehnet_flux.toml", sets)


def measure(size_px: int, a, tmp: Path, flux: Path) -> dict:
    root = tmp / f"set{size_px}"
    write_set(root, a.frames, size_px)
    bare = bare_rate(root, max(a.frames, a.samples // 20))
    fly, fly_mem = feed_rate(config(flux, size_px, None), root, a.fly_samples or a.samples)
    cache = tmp / f"cache{size_px}"
    t0 = time.process_time()
    cfg = config(flux, size_px, cache)
    from train.data.feed import TrainData

    n_train = len(TrainData.load(cfg, [str(root)]).train_rows)  # encodes every latent once
    encode_s = time.process_time() - t0
    cached, cached_mem = feed_rate(cfg, root, a.samples)
    disk = sum(p.stat().st_size for p in cache.glob("shard-*.safetensors"))
    return dict(
        size=size_px, bare=bare, fly=fly, cached=cached, fly_mem=fly_mem, cached_mem=cached_mem,
        encode_s_per_sample=encode_s / n_train, disk_per_sample=disk / n_train,
        n_train=n_train,
    )  # fmt: skip


def growth(memory: list[float]) -> str:
    """The first twentieth's RSS, the peak and every reading (MB)."""
    if not memory:
        return "n/a"
    series = " ".join(f"{m:.0f}" for m in memory)
    return (
        f"{memory[0]:.0f} -> peak {max(memory):.0f} MB (growth {max(memory) - memory[0]:+.0f}; "
        f"every twentieth: {series})"
    )


def print_report(r: dict, a) -> None:
    s = r["size"]
    print(f"{s} px (3:2 frames {s * 3 // 2}x{s}, BokehNet samples of 3 images, 1 thread):")
    print(f"  bare decode (2 PNG + depth)     {r['bare']:8.2f} samples/CPU-s")
    print(
        f"  feed on the fly                 {r['fly']:8.2f} samples/CPU-s  "
        f"(ratio to bare {r['fly'] / r['bare']:.2f}; goal at 1024 px: >= 2)"
    )
    print(
        f"  feed from the latent cache      {r['cached']:8.2f} samples/CPU-s  "
        f"(x{r['cached'] / r['fly']:.1f} the on-the-fly feed; goal: >= 20)"
    )
    print(f"  memory on the fly ({a.fly_samples or a.samples} samples): {growth(r['fly_mem'])}")
    print(f"  memory cached ({a.samples} samples): {growth(r['cached_mem'])}")
    print(
        f"  cache ({r['n_train']} training samples, the held-out scene is not cached): "
        f"{r['encode_s_per_sample']:.2f} CPU-s and {r['disk_per_sample'] / 1e6:.2f} MB "
        f"per sample; 10k samples: {r['encode_s_per_sample'] * 1e4 / 3600:.1f} CPU-h, "
        f"{r['disk_per_sample'] * 1e4 / 1e9:.1f} GB"
    )


def add_arguments(p: argparse.ArgumentParser, sizes_flag: str = "--sizes") -> None:
    p.add_argument(sizes_flag, dest="sizes", default="512,1024", help="training sizes (px)")
    p.add_argument(
        "--feed-samples",
        dest="samples",
        type=int,
        default=10_000,
        help="samples per feed run (cached, and on the fly unless --fly-samples)",
    )
    p.add_argument("--fly-samples", type=int, default=0, help="on the fly (0: --feed-samples)")
    p.add_argument("--frames", type=int, default=8, help="distinct scenes in the set")
    p.add_argument("--preset", default="small", choices=["tiny", "small"], help="FLUX folder")


def run(a, error) -> None:
    """The whole measurement for parsed arguments ``a`` (``error(text)`` refuses them)."""
    sizes = [int(v) for v in str(a.sizes).split(",")]
    if min(sizes) < 32 or a.samples < 1 or a.frames < 1 or a.fly_samples < 0:
        error("needs sizes >= 32, --feed-samples >= 1, --frames >= 1, --fly-samples >= 0")
    import torch

    from infra.quiet import quiet_library_logs

    quiet_library_logs()

    from train.backbones.random_flux import write_random_flux_folder

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_feed_"))
    try:  # the small FLUX folder alone is 2.7 GB
        flux = write_random_flux_folder(tmp / "FLUX.1-dev", a.preset)
        print(f"start: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
        for size in sizes:
            print_report(measure(size, a, tmp, flux), a)
        print(f"end: load {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    a = p.parse_args()
    run(a, p.error)


if __name__ == "__main__":
    main()
