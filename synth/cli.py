"""``python -m synth render``: render a dataset (or one shard of it) into a manifest root;
``python -m synth report``: its all-in-focus images by scene kind against the photo pool;
``python -m synth photos``: the 2.5-D route (``synth.photo_job``), pairs from AIF images + depth.

Examples:
  python -m synth render --out runs/synth --scenes 24 --resolution 128 --samples 16
  python -m synth render --out /shared/synth --scenes 10000 --shard 3/16   # one array-job task
  SHARD_INDEX=3 SHARD_COUNT=16 python -m synth render --out /shared/synth --scenes 10000
  python -m synth render --out /shared/synth --scenes 10000 --ray-address auto --shards 64 \\
      --threads 4
  python -m synth render --out runs/synth --scenes 8 --set render.exr=true --set render.device=cpu
  python -m synth render --out runs/synth --scenes 8 --photos runs/curate --workers 2 --threads 1
  python -m synth render --out runs/synth --scenes 8 --photos ~/pics --set scene.kinds.procedural=0
  python -m synth render --out runs/synth --scenes 8 --set 'aperture.shapes=["heart", "my.png"]'
  python -m synth photos --photos runs/curate --out runs/photos --depth-model ~/models/depth
  python -m synth photos --photos runs/synth --out runs/synth-2p5d   # the path-traced twin
  python -m synth report runs/synth            # natural-image statistics -> runs/synth/report
  python -m synth report runs/synth --photos ~/pics --out runs/synth-stats --long-edge 256
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from infra.config_file import add_set_argument, integer, settings_changes
from optics.aperture import KernelError
from synth.config import (
    MAX_PROCESSES,
    MAX_RESOLUTION_PX,
    MAX_SAMPLES,
    ConfigError,
    SynthConfig,
    load_config,
)
from synth.io import write_json_atomic
from synth.kernels import resolve_shapes
from synth.photo_cli import add_photos, photos
from synth.pool import PoolError, load_pool
from synth.shard import ShardError, parse_shard

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".exr"}

# Every number a flag takes has both bounds (reliability round 2, item 9): --scenes 1e20 or
# --threads 99999999 is argparse's one-line error (exit 2), not a traceback or an endless loop.
MAX_SCENES = 10_000_000  # scene ids 0..N-1 (the whole set is listed per shard)
MIN_LONG_EDGE_PX = 16  # report --long-edge (synth.report needs 16)


class PreflightError(RuntimeError):
    pass


def list_textures(folder: str | None) -> tuple[Path | None, tuple[str, ...]]:
    """Image file names in ``--textures DIR``; refuses a missing, unreadable or empty folder."""
    if folder is None:
        return None, ()
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise PreflightError(f"--textures {folder}: no such folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PreflightError(f"--textures {folder}: folder is not readable")
    names = []
    for p in sorted(path.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            if not os.access(p, os.R_OK):
                raise PreflightError(f"--textures {folder}: {p.name} is not readable")
            names.append(p.name)
    if not names:
        raise PreflightError(
            f"--textures {folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in it"
        )
    return path, tuple(names)


POOL_INDEX = "pool.json"


def check_same_pool(out: Path, pool) -> None:
    """Refuse to add scenes to ``out`` when its scenes came from another pool: a changed pool is
    a new dataset (every scene's spec changes), which belongs in another folder."""
    index = out / POOL_INDEX
    if not index.is_file():
        return
    try:
        before = json.loads(index.read_text()).get("pool_hash")
    except (OSError, ValueError, AttributeError):
        return
    if before and before != pool.pool_hash:
        raise PreflightError(
            f"--out {out}: its scenes were rendered from photo pool {before}, this pool is "
            f"{pool.pool_hash} (another dataset): render into a new --out"
        )


DATASET_INDEX = "dataset.json"
# Where a set is rendered, not what it holds: these may change between runs into one OUT.
_RUN_ONLY_KEYS = {("render", "device")}


def _dataset_settings(cfg) -> dict:
    d = cfg.model_dump(mode="json")
    d.pop("photos", None)  # the 2.5-D route's settings: no path-traced scene depends on them
    for section, key in _RUN_ONLY_KEYS:
        d.get(section, {}).pop(key, None)
    return d


def check_same_dataset(out: Path, cfg, n_shards: int) -> None:
    """Refuse to add scenes to ``out`` with other settings or another shard count, which would
    leave a set whose finished scenes and parts disagree with the new ones (a 32 px set that
    says it is 16 px; two parts of one scene under ``--shard 0/1`` and ``0/2``); record them in
    ``OUT/dataset.json`` otherwise. Only ``render.device`` may change."""
    if (out / "sources.json").exists():  # synth.photo_job.SOURCES_INDEX
        raise PreflightError(
            f"--out {out}: a 2.5-D route's folder (python -m synth photos); render into a "
            "folder of its own (the scene ids would collide)"
        )
    index = out / DATASET_INDEX
    settings = _dataset_settings(cfg)
    parts = out / "synthetic_pairs"
    counts = set()
    if parts.is_dir():
        for part in parts.iterdir():
            m = re.fullmatch(r"part-\d+-of-(\d+)\.parquet", part.name)
            if m:
                counts.add(int(m.group(1)))
    if counts - {n_shards}:
        raise PreflightError(
            f"--out {out}: its parts were written as {max(counts - {n_shards})} shards, this run "
            f"has {n_shards}: rerun with that shard count, or render into a new --out"
        )
    if index.is_file():
        try:
            before = json.loads(index.read_text())["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise PreflightError(f"--out {out}: {index} is not readable JSON; remove it") from None
        defaults = _dataset_settings(SynthConfig())  # keys added since: their defaults
        changed = settings_changes(before, settings, defaults=defaults)
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            raise PreflightError(
                f"--out {out}: its scenes were rendered with other settings "
                f"({'; '.join(changed[:3])}{more}): rerun with them, or render into a new --out"
            )
        return
    write_json_atomic(index, {"settings": settings})


def _subparser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help_text,
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_render(sub) -> None:
    """``render``: what to render (config, size, settings), then how (see _add_render_launch)."""
    r = _subparser(sub, "render", "render scenes into OUT (resumes finished scenes)")
    r.add_argument("--config", help="TOML config (default synth/configs/default.toml)")
    r.add_argument("--out", required=True, help="output root (scenes, manifests, stats)")
    r.add_argument(
        "--scenes",
        type=integer(1, MAX_SCENES),
        required=True,
        help=f"dataset size: scene ids 0..N-1 (1-{MAX_SCENES})",
    )
    r.add_argument(
        "--resolution",
        type=integer(8, MAX_RESOLUTION_PX),
        help=f"render width in px, 8-{MAX_RESOLUTION_PX} (overrides the config)",
    )
    r.add_argument(
        "--samples",
        type=integer(1, MAX_SAMPLES),
        help=f"Cycles samples, 1-{MAX_SAMPLES} (overrides the config)",
    )
    add_set_argument(r, "render.device=cpu")
    _add_render_launch(r)


def _add_render_launch(r: argparse.ArgumentParser) -> None:
    """``render``'s shard, processes, photo and texture sources, Ray and progress flags."""
    r.add_argument(
        "--shard",
        help="render only shard k/n (0-based); default from SHARD_INDEX/SHARD_COUNT, else 0/1",
    )
    r.add_argument(
        "--workers",
        type=integer(1, MAX_PROCESSES),
        default=1,
        help=f"local render processes, 1-{MAX_PROCESSES} (default 1)",
    )
    r.add_argument(
        "--threads",
        type=integer(0, MAX_PROCESSES),
        default=0,
        help=f"Cycles threads per process, 0-{MAX_PROCESSES} (default 0: all cores / workers)",
    )
    r.add_argument(
        "--photos",
        action="append",
        metavar="SOURCE",
        help="photo pool of the photographic scene kinds: a real_photos manifest (curate's "
        "output, local or s3://), a folder of images, or 'embedded' (scikit-image's 8 photos, "
        "the default); repeat to pool several",
    )
    r.add_argument("--textures", help="folder of photos used as image textures (procedural kind)")
    r.add_argument(
        "--ray-address",
        "--ray",
        dest="ray_address",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run one Ray task per shard (ADDRESS, 'auto', or empty for local Ray)",
    )
    r.add_argument(
        "--shards",
        type=integer(1, MAX_SCENES),
        help="shards with Ray (default: one per 8 scenes)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_report(sub) -> None:
    s = _subparser(
        sub,
        "report",
        "natural-image statistics of OUT's all-in-focus images by scene kind vs the photos",
    )
    s.add_argument("root", metavar="OUT", help="a render root (python -m synth render --out)")
    s.add_argument(
        "--photos",
        metavar="DIR_OR_MANIFEST",
        help="the photos to compare with (a folder or real_photos manifest; default: the pool "
        "OUT's scenes were built from, OUT/pool.json)",
    )
    s.add_argument("--out", metavar="DIR", help="report folder (default OUT/report)")
    s.add_argument(
        "--long-edge",
        type=integer(MIN_LONG_EDGE_PX, MAX_RESOLUTION_PX),
        default=128,
        metavar="PX",
        help=f"every image is box-downscaled to this long edge first, {MIN_LONG_EDGE_PX}-"
        f"{MAX_RESOLUTION_PX} (default 128)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m synth",
        description="Headless Blender (Cycles) render farm for the paired refocusing set.",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    _add_render(sub)
    _add_report(sub)
    add_photos(sub, _subparser)
    return p


def _error(e: Exception) -> int:
    """A refused run: one line on stderr, exit 2."""
    print(f"error: {e}", file=sys.stderr)
    return 2


def report(a) -> int:
    from synth.report import ReportError, format_targets, make_report
    from synth.stats_report import format_table

    try:
        r = make_report(Path(a.root), a.photos, a.out and Path(a.out), a.long_edge)
    except (ReportError, PoolError) as e:
        return _error(e)
    print(format_table(r["rows"]))
    print(format_targets(r["targets"]))
    where, photos = r["report_dir"], r["settings"]["photos"]
    print(f"  natural_stats.json, .md, .png in {where} (photos: {photos})")
    return 0


def _summary(stats: list[dict], out: Path) -> str:
    kept = sum(s["kept"] for s in stats)
    failed = sum(s["rejected"] for s in stats)
    now = sum(s["rendered_now"] for s in stats)
    skipped = sum(s["skipped_done"] for s in stats)
    renders = sum(s["renders"] for s in stats)
    render_s = sum(s["render_s"] for s in stats)
    scene_s = sum(s["scene_wall_s"] for s in stats)
    share = f", {100 * render_s / scene_s:.0f}% of scene time inside Cycles" if scene_s else ""
    lines = [
        f"synth: {now} scene(s) rendered now, {skipped} already done, {failed} failed; "
        f"{kept} scene(s) / {renders} DoF render(s) in {out}{share}",
    ]
    for s in stats:
        for sid, err in s["failed"].items():
            lines.append(f"  scene {sid} failed: {err} (see {out}/logs/shard-{s['shard']}.log)")
        if s.get("contact_sheet"):
            lines.append(f"  contact sheet: {s['contact_sheet']}")
    lines.append(f"  check it: python -m manifests validate {out}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from infra.quiet import quiet_library_logs

    quiet_library_logs()
    a = _parser().parse_args(argv)
    if a.command == "report":
        return report(a)
    if a.command == "photos":
        return photos(a, _error)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        cfg = load_config(a.config, a.set, resolution_px=a.resolution, samples=a.samples)
        cfg, kernels = resolve_shapes(cfg)  # user kernel PNGs: read before anything renders
        textures_dir, textures = list_textures(a.textures)
        k, n = parse_shard(a.shard)
        pool = None
        if cfg.scene.kinds.needs_photos:
            pool = load_pool(a.photos, progress=not a.quiet)
        elif a.photos:
            raise PreflightError(
                f"--photos {' '.join(a.photos)}: the config gives the photographic scene kinds "
                "(scene.kinds.cards, scene.kinds.textured) no weight"
            )
        from synth.blender.compat import require_bpy

        require_bpy()
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PreflightError(f"--out {out}: not writable")
        if pool is not None:
            check_same_pool(out, pool)
        n_shards = (a.shards or max(1, -(-a.scenes // 8))) if a.ray_address is not None else n
        check_same_dataset(out, cfg, n_shards)
        if pool is not None:
            pool.write_index(out / POOL_INDEX)
    except (ConfigError, ShardError, PoolError, KernelError, RuntimeError, OSError) as e:
        return _error(e)  # PreflightError is a RuntimeError

    from synth.launch import Job, run_ray, run_shard_local

    job = Job(
        cfg=cfg,
        out=out,
        n_scenes=a.scenes,
        textures_dir=textures_dir,
        textures=textures,
        workers=a.workers,
        threads=a.threads,
        pool=pool,
        kernels=kernels,
    )
    if pool is not None:
        p = pool.summary()
        why = ", ".join(f"{n} {r}" for r, n in p["skipped_reasons"].items())
        print(
            f"photo pool: {p['photos']} photo(s) from {p['source']}, {p['skipped']} skipped"
            f"{f' ({why})' if why else ''}, hash {p['pool_hash']} ({out / POOL_INDEX})",
            file=sys.stderr,
        )
    if a.ray_address is not None:
        stats = run_ray(job, n_shards, a.ray_address or None)
    else:
        stats = [run_shard_local(job, k, n, show_progress=not a.quiet)]
    print(_summary(stats, out))
    return 1 if any(s["rejected"] for s in stats) else 0
