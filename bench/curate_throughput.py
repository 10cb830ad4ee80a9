"""curate throughput, measured side by side in one run on this machine.

(a) pass 1 files/s through the Ray job's pass-1 tasks versus a plain single-process loop
    (read the first 128 KiB, ``exifread.process_file(details=False)``) over the same files;
(b) pass-2 CLIP images/s through a ``ClipActor`` versus a bare ``open_clip`` forward at the same
    batch size and thread count (random-init weights saved to a local file: speed only).

Example: python bench/curate_throughput.py --files 4000 --clip-images 128
Prints both ratios on the last lines.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_files(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    rng = np.random.default_rng(0)
    for i in range(n):
        ex = Image.Exif()
        ex[0x010F], ex[0x0110] = "Canon", "Canon EOS 5D Mark III"
        ifd = ex.get_ifd(0x8769)
        ifd[0x829D] = IFDRational(int(rng.integers(12, 80)), 10)
        ifd[0x920A] = IFDRational(int(rng.integers(24, 200)), 1)
        # The rest of a typical camera's EXIF IFD, so exifread does realistic work per file.
        ifd[0x829A] = IFDRational(1, int(rng.integers(30, 4000)))  # ExposureTime
        ifd[0x8827] = int(rng.integers(100, 6400))  # ISO
        ifd[0x9003] = ifd[0x9004] = "2024:05:01 10:00:00"  # DateTimeOriginal/Digitized
        ifd[0x9201] = IFDRational(8, 1)  # ShutterSpeedValue
        ifd[0x9202] = IFDRational(3, 1)  # ApertureValue
        ifd[0x9204] = IFDRational(0, 3)  # ExposureBias
        for tag, value in [
            (0x8822, 3),
            (0x9207, 5),
            (0x9209, 16),
            (0xA001, 1),
            (0xA402, 0),
            (0xA403, 0),
            (0xA406, 0),
            (0xA002, 640),
            (0xA003, 480),
        ]:
            ifd[tag] = value
        ifd[0xA433], ifd[0xA434] = "Canon", "EF85mm f/1.8 USM"  # LensMake, LensModel
        ifd[0xA431] = f"{int(rng.integers(1e9, 9e9))}"  # BodySerialNumber
        ex[0x8769] = ifd
        ex[0x0131], ex[0x0132] = "Firmware 1.2.3", "2024:05:01 10:00:00"  # Software, DateTime
        ex[0x013B], ex[0x8298] = "A. Photographer", "CC BY 4.0"  # Artist, Copyright
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((640, 480), Image.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85, exif=ex.tobytes())
        (folder / f"{i:05d}.jpg").write_bytes(buf.getvalue())


def plain_loop(paths: list[str], head_bytes: int) -> float:
    import exifread

    t0 = time.perf_counter()
    for p in paths:
        with open(p, "rb") as f:
            exifread.process_file(io.BytesIO(f.read(head_bytes)), details=False)
    return time.perf_counter() - t0


def bench_pass1(n_files: int, repeats: int) -> float:
    import ray

    from curate.config import load_config
    from curate.job import run_shards
    from curate.listing import list_inputs
    from curate.spill import spill_listing
    from infra.uri import file_path

    folder = Path(tempfile.mkdtemp(prefix="cbench"))
    try:
        make_files(folder, n_files)
        # Every file gets pass 1's whole work (head read, EXIF, derive, header size, filters) and
        # is then rejected as too small, so pass 2 has nothing to decode: the job's pass-1 phase.
        cfg = load_config(None, ["filters.min_short_side_px=100000"])
        entries = list_inputs([str(folder)], cfg.listing.extensions).entries
        workers = int(ray.cluster_resources()["CPU"])
        # the job reads each shard from its spilled listing (curate.spill), as the job does
        spilled = folder.parent / f"{folder.name}-listing.parquet"
        listing = spill_listing(
            [str(folder)], cfg.listing.extensions, str(spilled), cfg.listing.shard_size
        )
        todo = list(range(listing.n_shards))
        paths = [file_path(e.uri) for e in entries]

        def job_pass1() -> float:
            out = tempfile.mkdtemp(prefix="cbout", dir=folder.parent)
            try:
                timing = run_shards(out, todo, listing, cfg, [], None, progress=False)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            return timing["pass1"]["seconds"]

        plain_loop(paths[:50], cfg.exif.head_bytes)  # warm the page cache and imports
        job_pass1()  # warm the workers
        plain, ray_s = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            plain.append(plain_loop(paths, cfg.exif.head_bytes))
            ray_s.append(job_pass1())
        p, r = min(plain), min(ray_s)
        print(f"pass 1 over {len(paths)} files ({listing.n_shards} shards, {workers} CPUs):")
        print(f"  plain exifread loop : {len(paths) / p:8.0f} files/s  (best of {repeats})")
        print(f"  Ray job pass 1      : {len(paths) / r:8.0f} files/s  (incl. EXIF derive+filters)")
        return p / r
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        (folder.parent / f"{folder.name}-listing.parquet").unlink(missing_ok=True)


def bench_clip(model_name: str, n_images: int, batch_size: int, threads: int) -> float:
    import numpy as np
    import open_clip
    import ray
    import torch

    from curate.config import ClipConfig
    from curate.job import ClipActor

    folder = Path(tempfile.mkdtemp(prefix="cbclip"))
    try:
        torch.manual_seed(0)
        model = open_clip.create_model(model_name, pretrained=None).eval()
        ckpt = folder / "weights.pt"
        torch.save(model.state_dict(), ckpt)
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (n_images, size, size, 3), dtype=np.uint8)
        cfg = ClipConfig(
            model=model_name, checkpoint=str(ckpt), batch_size=batch_size, cpus_per_actor=threads
        )

        actor = ClipActor.options(num_cpus=threads).remote(cfg, threads)
        ray.get(actor.score.remote(images[:batch_size]))  # load + warm up
        ref = ray.put(images)
        t0 = time.perf_counter()
        ray.get(actor.score.remote(ref))
        actor_s = time.perf_counter() - t0
        ray.kill(actor)

        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)
        x = torch.randn(batch_size, 3, size, size)
        with torch.no_grad():
            model.encode_image(x)  # warm up
            t0 = time.perf_counter()
            for i in range(0, n_images, batch_size):
                b = torch.from_numpy(images[i : i + batch_size]).permute(0, 3, 1, 2).float()
                model.encode_image(b / 255.0)
            bare_s = time.perf_counter() - t0
        print(f"CLIP {model_name}, {n_images} images, batch {batch_size}, {threads} thread(s):")
        print(f"  bare open_clip forward: {n_images / bare_s:7.1f} images/s")
        print(f"  ClipActor (Ray)       : {n_images / actor_s:7.1f} images/s")
        return bare_s / actor_s
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--files", type=int, default=4000, help="generated JPEGs for pass 1")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (best is kept)")
    p.add_argument("--clip-model", default="ViT-B-32")
    p.add_argument("--clip-images", type=int, default=128, help="0: no CLIP part")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2)
    a = p.parse_args()
    import ray

    from infra.ray_start import start_ray

    temp = f"/tmp/rb{uuid.uuid4().hex[:6]}"
    start_ray(num_cpus=a.num_cpus, temp_dir=temp, log_to_driver=False)
    try:
        r1 = bench_pass1(a.files, a.repeats)
        r2 = None
        if a.clip_images:
            r2 = bench_clip(a.clip_model, a.clip_images, a.batch_size, a.num_cpus)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"pass-1 ratio (Ray job / plain loop files/s): {r1:.2f}")
    if r2 is not None:
        print(f"CLIP ratio (ClipActor / bare open_clip images/s): {r2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
