"""curate job: photo folders / buckets -> real_photos + rejects manifests (the only Ray module).

Usage (all three run the same code):

  # 1. Local: starts a private Ray on this machine when no cluster is given
  python curate/job.py --input ~/photos --input s3://bucket/raw/ --out runs/curate

  # 2. A running cluster (`ray start --head` on the head node, `ray start --address` on workers)
  RAY_ADDRESS=http://HEAD:8265 ray job submit --working-dir . -- \\
      python curate/job.py --input s3://bucket/raw/ --out s3://bucket/curated --config my.toml

  # 3. A cluster launched from a YAML (see curate/cluster.yaml)
  ray up curate/cluster.yaml
  ray submit curate/cluster.yaml curate/job.py --input s3://bucket/raw/ --out s3://bucket/cur

Inside a job started by `ray job submit`/`ray submit`, RAY_ADDRESS is set and the job joins that
cluster; `--ray-address auto` joins a cluster started on this machine. Object-store credentials come
from the standard environment and config files (AWS_*, ~/.aws, GOOGLE_APPLICATION_CREDENTIALS)
and are never printed or written. A re-run with the same --input/--out skips finished shards.

Flow: list -> shard (sorted, fixed size) -> pass 1 tasks (EXIF head read, filters) -> pass 2
tasks (full read, decode, weight-free quality, phash) -> CLIP actor pool (optional) -> per-shard
candidates under OUT/_work/ -> global dedup -> OUT/real_photos/part-K, OUT/rejects/part-K ->
stats.json (inputs = kept + rejected, checked), summary.png, summary.html.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(REPO) not in sys.path:  # `python curate/job.py`
    sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import ray  # noqa: E402
from tqdm import tqdm  # noqa: E402

from curate import passes  # noqa: E402
from curate.config import DEFAULT_CONFIG, ConfigError, CurateConfig, load_config  # noqa: E402
from curate.dedup import Item, find_duplicates  # noqa: E402
from curate.listing import Entry, ListingError, list_inputs, shards  # noqa: E402
from curate.summary import html_report, plot_png, text_summary  # noqa: E402
from manifests import (  # noqa: E402
    ManifestError,
    check_counts,
    part_exists,
    part_path,
    read_table,
    write_part,
)
from manifests.io import resolve  # noqa: E402

WORK = "_work"
CREATED_BY = "curate"


class JobError(RuntimeError):
    """A job-level problem; ``str()`` is one line saying what and what to do."""


def _join(root: str, *names: str) -> str:
    if "://" in root:
        return "/".join([root.rstrip("/"), *names])
    return os.path.join(root, *names)


def write_bytes(root: str, name: str, data: bytes) -> str:
    target = _join(root, name)
    fs, path = resolve(target)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(data)
    return target


def read_bytes(root: str, name: str) -> bytes | None:
    fs, path = resolve(_join(root, name))
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


# ---- Ray wrappers -----------------------------------------------------------------------------


@ray.remote(num_cpus=1)
def pass1_task(entries: list[Entry], cfg: CurateConfig):
    return passes.pass1(entries, cfg)


@ray.remote(num_cpus=1, num_returns=3)
def pass2_task(survivors: list[dict], cfg: CurateConfig, clip_size_px: int | None):
    return passes.pass2(survivors, cfg, clip_size_px)


@ray.remote
class ClipActor:
    """One CLIP model per actor (one GPU each when the cluster has GPUs)."""

    def __init__(self, clip_cfg, threads: int | None):
        from curate.scoring import ClipScorer

        self.scorer = ClipScorer(clip_cfg, threads=threads, flush_denormal=True)
        self.batch_size = clip_cfg.batch_size

    def size_px(self) -> int:
        return self.scorer.size_px

    def score(self, clip_inputs):
        out = {"clip_quality": [], "clip_shallow_dof": [], "clip_embedding": []}
        for i in range(0, len(clip_inputs), self.batch_size):
            part = self.scorer.score(clip_inputs[i : i + self.batch_size])
            for k in out:
                out[k].extend(part[k])
        return out


def start_clip_actors(clip_cfg) -> list:
    gpus = int(ray.cluster_resources().get("GPU", 0))
    n = clip_cfg.actors or (gpus if gpus else 1)
    threads = max(1, int(clip_cfg.cpus_per_actor))
    options = {"num_cpus": clip_cfg.cpus_per_actor, "num_gpus": 1 if gpus else 0}
    return [ClipActor.options(**options).remote(clip_cfg, threads) for _ in range(n)]


# ---- the job ------------------------------------------------------------------------------------


def listing_fingerprint(entries: list[Entry], shard_size: int) -> str:
    h = hashlib.sha256(f"{shard_size}\n".encode())
    for e in entries:
        h.update(e.uri.encode() + b"\n")
    return h.hexdigest()


def _shard_done(out: str, k: int) -> bool:
    return part_exists(out, "real_photos", k) and part_exists(out, "rejects", k)


def run_pass1(shard_lists, cfg, progress=True) -> tuple[list, float]:
    """Pass 1 over shards as Ray tasks: ``[(survivors, rejects)]`` in shard order, seconds."""
    t0 = time.perf_counter()
    refs = [pass1_task.remote(s, cfg) for s in shard_lists]
    index = {r: i for i, r in enumerate(refs)}
    results: list = [None] * len(refs)
    pending = list(refs)
    n_files = sum(len(s) for s in shard_lists)
    with tqdm(total=n_files, desc="pass 1 EXIF", unit="file", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = index[done[0]]
            results[i] = ray.get(done[0])
            bar.update(len(shard_lists[i]))
    return results, time.perf_counter() - t0


def run(inputs: list[str], out: str, cfg: CurateConfig, *, progress: bool = True) -> dict:
    """Run the whole job on the current Ray (``ray.init`` first); returns the stats dict."""
    if not ray.is_initialized():
        raise JobError("Ray is not initialised; call ray.init() or use main()")
    t_start = time.perf_counter()
    out = out.rstrip("/") if "://" in out else os.path.abspath(out)
    work = _join(out, WORK)
    listing = list_inputs(inputs, cfg.listing.extensions)
    entries = listing.entries
    shard_lists = shards(entries, cfg.listing.shard_size)
    fingerprint = listing_fingerprint(entries, cfg.listing.shard_size)
    previous = read_bytes(work, "listing.json")
    if previous is not None and json.loads(previous)["fingerprint"] != fingerprint:
        raise JobError(
            f"{out}: holds parts of a different listing (files were added/removed or "
            "listing.shard_size changed); use a fresh --out or delete it to start over"
        )
    write_bytes(
        work,
        "listing.json",
        json.dumps({"fingerprint": fingerprint, "files": len(entries)}).encode(),
    )

    todo = [
        k
        for k in range(len(shard_lists))
        if not _shard_done(out, k) and not part_exists(work, "real_photos", k)
    ]
    skipped = sum(_shard_done(out, k) for k in range(len(shard_lists)))

    # CLIP: a local checkpoint or nothing (never random weights, never a download).
    clip_stats = {"enabled": False, "model": cfg.clip.model}
    actors = []
    clip_size = None
    if not cfg.clip.checkpoint:
        clip_stats["reason"] = "no checkpoint configured (set clip.checkpoint to a local file)"
    elif todo:
        actors = start_clip_actors(cfg.clip)
        clip_size = ray.get(actors[0].size_px.remote())
        clip_stats.update(enabled=True, actors=len(actors))
    else:
        clip_stats.update(enabled=True, actors=0)

    # Pass 1
    p1_results, p1_seconds = run_pass1([shard_lists[k] for k in todo], cfg, progress)
    p1_files = sum(len(shard_lists[k]) for k in todo)

    # Pass 2 (+ CLIP), candidates written per shard as each finishes.
    t2 = time.perf_counter()
    waiting = {}
    for j, k in enumerate(todo):
        survivors, _ = p1_results[j]
        rows_ref, rej_ref, crops_ref = pass2_task.remote(survivors, cfg, clip_size)
        score_ref = actors[j % len(actors)].score.remote(crops_ref) if actors else None
        waiting[rows_ref] = (k, j, rej_ref, score_ref)
    p2_files = sum(len(r[0]) for r in p1_results)
    pending = list(waiting)
    with tqdm(total=p2_files, desc="pass 2 decode+score", unit="file", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            k, j, rej_ref, score_ref = waiting[done[0]]
            rows = ray.get(done[0])
            rejects = p1_results[j][1] + ray.get(rej_ref)
            if score_ref is not None:
                scores = ray.get(score_ref)
                for key, values in scores.items():
                    for row, v in zip(rows, values, strict=True):
                        row[key] = v
            write_part(rows, work, "real_photos", k, created_by=CREATED_BY)
            write_part(rejects, work, "rejects", k, created_by=CREATED_BY)
            bar.update(len(p1_results[j][0]))
    p2_seconds = time.perf_counter() - t2
    for a in actors:
        ray.kill(a)

    # Global dedup over every shard's candidates, then the final parts.
    candidates = {
        k: read_table(part_path(work, "real_photos", k), "real_photos")
        for k in range(len(shard_lists))
        if not _shard_done(out, k)
    }
    kept_elsewhere = _kept_items(out, [k for k in range(len(shard_lists)) if _shard_done(out, k)])
    items = kept_elsewhere + [it for t in candidates.values() for it in _items(t)]
    dups = find_duplicates(items, cfg.dedup.phash_max_distance)
    for k, table in candidates.items():
        uris = table.column("uri").to_pylist()
        keep_mask = pa.array([u not in dups for u in uris], type=pa.bool_())
        dup_rows = [
            passes.reject(u, "dedup", "duplicate", dups[u][1], duplicate_of=dups[u][0])
            for u in uris
            if u in dups
        ]
        work_rejects = read_table(part_path(work, "rejects", k), "rejects")
        write_part(table.filter(keep_mask), out, "real_photos", k, created_by=CREATED_BY)
        rejects = work_rejects.to_pylist() + dup_rows
        write_part(rejects, out, "rejects", k, created_by=CREATED_BY)

    stats = finish(out, cfg, listing, len(shard_lists), skipped, clip_stats)
    stats["timing"] = {
        "pass1": _rate(p1_files, p1_seconds),
        "pass2": _rate(p2_files, p2_seconds),
        "total_seconds": round(time.perf_counter() - t_start, 3),
    }
    write_bytes(out, "stats.json", json.dumps(stats, indent=1).encode())
    return stats


def _rate(files: int, seconds: float) -> dict:
    return {
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": files / seconds if seconds > 0 else 0.0,
    }


def _items(table: pa.Table) -> list[Item]:
    if table.num_rows == 0:  # an empty part carries only the contract columns
        return []
    quality = table.column("quality_score").to_pylist()
    clip = table.column("clip_quality").to_pylist()
    pixels = [
        w * h
        for w, h in zip(
            table.column("width_px").to_pylist(), table.column("height_px").to_pylist(), strict=True
        )
    ]
    return [
        Item(uri, sha, ph, (c if c is not None else -1.0, q, px))
        for uri, sha, ph, c, q, px in zip(
            table.column("uri").to_pylist(),
            table.column("sha256").to_pylist(),
            table.column("phash").to_pylist(),
            clip,
            quality,
            pixels,
            strict=True,
        )
    ]


def _kept_items(out: str, done_shards: list[int]) -> list[Item]:
    """Photos kept by already finished shards: new candidates may duplicate them (resume)."""
    items = []
    for k in done_shards:
        t = read_table(part_path(out, "real_photos", k), "real_photos")
        # Rank above everything new, so a kept photo is never turned into a duplicate later.
        items += [Item(i.id, i.sha256, i.phash, (float("inf"),) + i.rank) for i in _items(t)]
    return items


def finish(out, cfg, listing, n_shards, skipped, clip_stats) -> dict:
    """Count the final parts, check ``inputs = kept + rejected``, write the summary files."""
    kept = read_table(out, "real_photos")
    rejects = read_table(out, "rejects")
    reasons: dict[str, int] = {}
    stages: dict[str, int] = {}
    for reason, stage in zip(
        rejects.column("reason").to_pylist(), rejects.column("stage").to_pylist(), strict=True
    ):
        reasons[reason] = reasons.get(reason, 0) + 1
        stages[stage] = stages.get(stage, 0) + 1
    stats = {
        "kept_schema": "real_photos",
        "inputs": len(listing.entries),
        "kept": kept.num_rows,
        "rejected": rejects.num_rows,
        "reasons": reasons,
        "stages": stages,
        "ignored_by_extension": listing.ignored,
        "shards": n_shards,
        "shards_skipped": skipped,
        "out": out,
        "clip": clip_stats,
        "config": cfg.to_dict(),
    }
    problems = check_counts(stats, f"{out}/stats.json", kept.num_rows, rejects.num_rows)
    stats["counts_ok"] = not problems
    stats["count_problems"] = [str(p) for p in problems]
    png = plot_png(kept, rejects)
    write_bytes(out, "summary.png", png)
    write_bytes(out, "summary.html", html_report(stats, png).encode())
    return stats


# ---- command line -------------------------------------------------------------------------------


def _init_ray(a) -> bool:
    """Join a cluster (RAY_ADDRESS or --ray-address), else start a private one. True: started."""
    address = a.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    # Local workers must import curate/manifests/optics from this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = {"include_dashboard": False, "_node_ip_address": "127.0.0.1", "log_to_driver": False}
    if a.num_cpus:
        kwargs["num_cpus"] = a.num_cpus
    if a.ray_temp_dir:
        kwargs["_temp_dir"] = a.ray_temp_dir
    ray.init(**kwargs)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python curate/job.py",
        description="Curate real photos into bokeh-ready Parquet manifests (Ray).",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", action="append", required=True, help="folder, file or s3:// gs://")
    p.add_argument("--out", required=True, help="output root (folder or s3:// / gs:// prefix)")
    p.add_argument("--config", help=f"TOML config (defaults: {DEFAULT_CONFIG.relative_to(REPO)})")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config key (a TOML value), e.g. --set filters.max_f_number=4",
    )
    p.add_argument(
        "--ray-address",
        "--address",
        dest="address",
        help="Ray cluster address ('auto' joins one on this machine)",
    )
    p.add_argument("--num-cpus", type=int, help="CPUs for a local Ray (default: all)")
    p.add_argument("--ray-temp-dir", help="temp dir for a local Ray (keep it short)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    try:
        cfg = load_config(a.config, a.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    started = _init_ray(a)
    try:
        stats = run(a.input, a.out, cfg, progress=not a.no_progress)
    except (ListingError, JobError, ManifestError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if started:
            ray.shutdown()
    print(text_summary(stats))
    for problem in stats["count_problems"]:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if stats["counts_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
