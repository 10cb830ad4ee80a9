"""Where the scenes render: in this process, a local process pool, or Ray tasks (one per shard).

All three share ``worker.render_scenes`` and ``worker.finish_shard``; the array-job contract
(``--shard k/n`` or ``SHARD_INDEX``/``SHARD_COUNT``) is just ``run_local`` on each node with its
own ``k``. Process pools use the ``spawn`` start method: each worker imports ``bpy`` once.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from infra.progress import progress_bar
from infra.ray_start import start_ray
from synth.config import SynthConfig
from synth.pool import PhotoCache, PhotoPool
from synth.sampling import sample_scene
from synth.settings import make_settings
from synth.shard import scene_ids, shard_name
from synth.worker import LOGS_DIR, finish_shard, render_scenes


@dataclass
class Job:
    """What to render: the config, where, which scenes, and how."""

    cfg: SynthConfig
    out: Path
    n_scenes: int
    textures_dir: Path | None = None
    textures: tuple[str, ...] = ()
    workers: int = 1
    threads: int = 0
    pool: PhotoPool | None = None  # photos of the photographic scene kinds
    kernels: dict = field(default_factory=dict)  # user aperture kernels by label (synth.kernels)


_PHOTO_CACHES: dict[str, PhotoCache] = {}


def photo_cache(pool: PhotoPool | None) -> PhotoCache | None:
    """This process's decoded photos of ``pool`` (kept between the scenes it renders)."""
    if pool is None:
        return None
    if pool.pool_hash not in _PHOTO_CACHES:
        _PHOTO_CACHES.clear()
        _PHOTO_CACHES[pool.pool_hash] = PhotoCache(pool)
    return _PHOTO_CACHES[pool.pool_hash]


def _log_path(out: Path, name: str) -> Path:
    (out / LOGS_DIR).mkdir(parents=True, exist_ok=True)
    return out / LOGS_DIR / f"shard-{name}.log"


def _specs(job: Job, ids: list[int]):
    return [sample_scene(job.cfg, i, list(job.textures), job.pool) for i in ids]


def _render_one(job: Job, scene_id: int, log_path: str) -> dict:
    """Process-pool task: one scene (the worker process keeps bpy imported between tasks)."""
    from synth.blender.compat import drop_blender_script_paths

    drop_blender_script_paths()
    settings = make_settings(job.cfg, job.threads)
    return render_scenes(
        _specs(job, [scene_id]),
        job.out,
        settings,
        job.textures_dir,
        job.cfg.render.jpeg_quality,
        Path(log_path),
        photos=photo_cache(job.pool),
        kernels=job.kernels,
    )


def run_shard_local(job: Job, k: int, n: int, show_progress: bool = True) -> dict:
    """Render shard ``k`` of ``n`` on this machine with ``job.workers`` processes."""
    job.out.mkdir(parents=True, exist_ok=True)
    name = shard_name(k, n)
    ids = scene_ids(job.n_scenes, k, n)
    log = _log_path(job.out, name)
    t0 = time.perf_counter()
    bar = progress_bar(
        total=len(ids), desc=f"synth shard {name}", unit="scene", disable=not show_progress
    )
    if job.workers <= 1:
        settings = make_settings(job.cfg, job.threads)
        counts = render_scenes(
            _specs(job, ids),
            job.out,
            settings,
            job.textures_dir,
            job.cfg.render.jpeg_quality,
            log,
            progress=bar,
            photos=photo_cache(job.pool),
            kernels=job.kernels,
        )
    else:
        threads = job.threads or max(1, (os.cpu_count() or 1) // job.workers)
        pjob = Job(**{**job.__dict__, "threads": threads})
        counts = {"rendered": [], "skipped": [], "failed": {}, "render_s": 0.0, "scene_wall_s": 0.0}
        with ProcessPoolExecutor(job.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_render_one, pjob, i, str(log)) for i in ids]
            for f in as_completed(futures):
                c = f.result()
                for key in ("rendered", "skipped"):
                    counts[key] += c[key]
                counts["failed"].update(c["failed"])
                counts["render_s"] += c["render_s"]
                counts["scene_wall_s"] += c["scene_wall_s"]
                bar.update(1)
    bar.close()
    stats = finish_shard(job.out, k, n, ids, counts["failed"], counts)
    stats["wall_s"] = time.perf_counter() - t0
    return stats


def run_ray(job: Job, n_shards: int, address: str | None) -> list[dict]:
    """One Ray task per shard (each needs ``threads`` CPUs); ``out`` must be shared storage."""
    import ray

    start_ray(address)
    cpus = max(1, job.threads or 1)

    @ray.remote(num_cpus=cpus, max_retries=2)
    def shard_task(job: Job, k: int, n: int) -> dict:
        return run_shard_local(job, k, n, show_progress=False)

    pending = [shard_task.remote(job, k, n_shards) for k in range(n_shards)]
    results = []
    with progress_bar(total=n_shards, desc="synth shards (ray)", unit="shard") as bar:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            results.append(ray.get(ready[0]))
            bar.update(1)
    return results
