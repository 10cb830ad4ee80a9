"""``python -m synth photos``: the 2.5-D route as a resumable, count-exact job.

Every source of :func:`synth.photo_sources.list_sources` gets a scene id (its place in the
listing, which ``OUT/sources.json`` records: a rerun with another listing is refused, since the
ids would mean other photos) and ends either **rendered** (``OUT/scenes/<id>/`` committed
atomically with ``DONE``, exactly like a path-traced scene: ``aif.png``, ``depth.npy``,
``dof_KK.png``, ``coc_KK.npy``, kernel PNGs of shaped apertures, ``meta.json`` with the rows)
or **rejected** (a ``rejects`` row with its stage, reason and one-line detail). A killed job
resumes: finished scenes are kept, the rest are rendered. The manifest parts
(``synthetic_pairs/part-photos.parquet``, ``rejects/part-photos.parquet``) and ``stats.json``
(``inputs = kept + rejected``) are rewritten at the end of every run.

Per source (:func:`render_source`): read and decode the image (``infra.images``: bomb limits,
16-bit scaled), refuse a greyscale or too small one, test that it is all in focus (curate's
``all_in_focus`` where the manifest has it, else ``infra.allinfocus`` here), read or estimate
its depth, shrink both to ``photos.long_edge_px`` and render ``photos.pairs_per_photo`` pairs
(:mod:`synth.photo_pairs`). The random draws come from ``(dataset_seed, the SHA-256 of the image
bytes)``: a photo gets the same pairs wherever it sits in the listing and on any machine.

The work runs on Ray Data (``ray.data.from_items(...).map(...)``: local Ray by default,
``--ray-address auto`` on a cluster; each worker loads the depth model once) or, with
``--workers 0``, in this process.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

import optics
from infra.allinfocus import focus_test
from infra.images import PhotoError, decode_photo
from manifests import write_part
from synth.io import write_json_atomic
from synth.photo_pairs import (
    coc_map_px,
    output_size,
    pair_kernel,
    params_from_row,
    render_pair,
    resize_depth,
    resize_rgb,
    sample_params,
)
from synth.photo_rows import pair_rows, reject_row
from synth.photo_sources import (
    Source,
    SourceReject,
    list_sources,
    read_depth,
    read_source_bytes,
    source_from_json,
    source_json,
)
from synth.shard import (
    commit_scene_dir,
    discard_temp_scene_dir,
    done_meta,
    remove_stale_temps,
    temp_scene_dir,
)

SOURCES_INDEX = "sources.json"
PART = "photos"
STATS_DIR = "stats"
PNG_LEVEL = 1  # zlib level of the PNGs: level 6 (Pillow's default) took 60 % of a 512 px pair
FOCUS_LONG_EDGE_PX = 512  # the focus test's analysis size (curate's decode.analysis_long_edge_px)


class PhotoJobError(RuntimeError):
    """A job that cannot start; the message is one line naming the input."""


def _rng(seed: int, sha256: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(sha256[:15], 16)])


def _depth_for(source: Source, image: np.ndarray, estimator, png_scale_m: float) -> np.ndarray:
    if source.depth_uri is not None:
        return read_depth(source.depth_uri, image.shape[:2], png_scale_m)
    if estimator is None:
        raise SourceReject(
            "depth",
            "no_depth",
            f"{source.uri}: no depth column or sidecar (NAME.depth.npy / NAME.depth.png) and no "
            "--depth-model",
        )
    try:
        depth = np.asarray(estimator(np.array(image)), dtype=np.float32)  # writable for torch
    except (ValueError, RuntimeError) as e:
        detail = f"{source.uri}: the depth model failed ({e})"
        raise SourceReject("depth", "bad_depth", detail) from None
    if depth.shape != image.shape[:2] or not np.isfinite(depth).any():
        raise SourceReject("depth", "bad_depth", f"{source.uri}: the depth model gave no depth")
    return depth


def prepare_source(source: Source, cfg, estimator=None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(aif uint8 H×W×3, depth_m H×W, sha256)`` at the output size, or a SourceReject."""
    if source.problem is not None:
        reason, detail = source.problem
        raise SourceReject("list" if reason != "bad_depth" else "depth", reason, detail)
    data = read_source_bytes(source.uri)
    sha = hashlib.sha256(data).hexdigest()
    p = cfg.photos
    try:  # never larger than the output or the focus test need (big JPEGs decode reduced)
        image = decode_photo(data, source.uri, max(p.long_edge_px, FOCUS_LONG_EDGE_PX))
    except PhotoError as e:
        why = str(e)
        reason = "decompression_bomb" if "decompression bomb" in why else "decode_failed"
        raise SourceReject("decode", reason, why) from None
    h, w = image.shape[:2]
    if min(h, w) < p.min_short_side_px:
        raise SourceReject(
            "filter", "too_small", f"{source.uri}: {w}×{h}, short side under {p.min_short_side_px}"
        )
    if (
        not source.rendered
        and (image[..., 0] == image[..., 1]).all()
        and (image[..., 1] == image[..., 2]).all()
    ):
        raise SourceReject(
            "quality", "greyscale", f"{source.uri}: a greyscale image (the route renders colour)"
        )
    if source.all_in_focus is None:
        analysed = resize_rgb(image, *output_size(w, h, FOCUS_LONG_EDGE_PX))
        test = focus_test(analysed)
        if not test.all_in_focus(p.aif_min_sharp_fraction):
            reason = test.reason(p.aif_min_sharp_fraction)
            raise SourceReject("quality", "not_all_in_focus", f"{source.uri}: {reason}")
    elif not source.all_in_focus:
        raise SourceReject(
            "quality", "not_all_in_focus", f"{source.uri}: curate's all_in_focus is false"
        )
    depth = _depth_for(source, image, estimator, p.depth_png_scale_m)
    out_w, out_h = output_size(w, h, p.long_edge_px)
    return resize_rgb(image, out_w, out_h), resize_depth(depth, out_w, out_h), sha


def _pair_params(source: Source, disparity, width_px: int, sha: str, cfg) -> list:
    if source.rendered and cfg.photos.reuse_render_params:
        return [params_from_row(r, width_px) for r in source.rows]
    return sample_params(_rng(cfg.dataset_seed, sha), disparity, width_px, cfg)


def render_source(source: Source, scene_id: int, out: Path, cfg, estimator=None, kernels=None):
    """Render one source into ``out/scenes/<id>`` atomically; returns its ``meta.json`` dict.
    A :class:`SourceReject` says why it cannot be rendered (nothing is written then)."""
    from PIL import Image

    from infra.images import read_kernel_png, write_kernel_png
    from infra.uri import join_root

    t0 = time.perf_counter()
    aif, depth, sha = prepare_source(source, cfg, estimator)
    disparity = optics.disparity_from_depth(depth)
    height_px, width_px = aif.shape[:2]
    try:
        params = _pair_params(source, disparity, width_px, sha, cfg)
    except ValueError as e:
        raise SourceReject("depth", "bad_depth", f"{source.uri}: {e}") from None
    kernels = dict(kernels or {})
    for r in source.rows:  # a path-traced scene's shaped renders: their own kernel PNGs
        if r.get("aperture_kernel_path") and r.get("aperture_shape_id"):
            kernels[r["aperture_shape_id"]] = read_kernel_png(
                join_root(r["aperture_kernel_path"], r["_root"])
            )
    tmp = temp_scene_dir(out, scene_id)
    try:
        Image.fromarray(aif).save(tmp / "aif.png", compress_level=PNG_LEVEL)
        np.save(tmp / "depth.npy", depth)
        files = {"aif": "aif.png"}
        for i, pp in enumerate(params):
            kernel = pair_kernel(pp, kernels)
            if pp.shape:
                files[f"dof_{i:02d}_kernel"] = f"dof_{i:02d}_kernel.png"
                write_kernel_png(tmp / files[f"dof_{i:02d}_kernel"], kernel)
            files[f"dof_{i:02d}"] = f"dof_{i:02d}.png"
            dof = render_pair(aif, disparity, pp, kernel, cfg.photos)
            Image.fromarray(dof).save(tmp / files[f"dof_{i:02d}"], compress_level=PNG_LEVEL)
            np.save(tmp / f"coc_{i:02d}.npy", coc_map_px(disparity, pp))
        rows = pair_rows(source, scene_id, params, files, width_px, height_px, sha, cfg)
        meta = {
            "source": source.uri,
            "source_sha256": sha,
            "depth": source.depth_uri or "depth model",
            "rows": rows,
            "files": sorted(
                {*files.values(), "depth.npy"} | {f"coc_{i:02d}.npy" for i in range(len(params))}
            ),
            "timings_s": {"scene_total": time.perf_counter() - t0},
        }
        write_json_atomic(tmp / "meta.json", meta)
        commit_scene_dir(tmp, out, scene_id)
    except BaseException:
        discard_temp_scene_dir(tmp)
        raise
    return meta


class _Worker:
    """One Ray Data worker (or this process): the depth model loaded once."""

    def __init__(self, out, cfg, depth_model, kernels):
        from infra.depth_model import TransformersDepth

        self.out, self.cfg, self.kernels = Path(out), cfg, kernels
        self.estimator = TransformersDepth(depth_model) if depth_model else None

    def __call__(self, item: dict) -> dict:
        i = int(item["scene_id"])
        source = source_from_json(item["source"])
        try:
            render_source(source, i, self.out, self.cfg, self.estimator, self.kernels)
        except SourceReject as e:
            return {"scene_id": i, "reject": json.dumps(reject_row(source, e))}
        except Exception as e:  # one bad photo never fails the job: a reject with the reason
            detail = f"{source.uri}: {type(e).__name__}: {e}".splitlines()[0]
            row = reject_row(source, SourceReject("render", "render_failed", detail))
            return {"scene_id": i, "reject": json.dumps(row)}
        return {"scene_id": i, "reject": ""}


def check_same_sources(out: Path, sources: list[Source]) -> None:
    """Record the listing in ``OUT/sources.json``; refuse a rerun whose listing differs."""
    index = out / SOURCES_INDEX
    uris = [s.uri for s in sources]
    if index.is_file():
        try:
            before = json.loads(index.read_text())["sources"]
        except (OSError, ValueError, KeyError, TypeError):
            raise PhotoJobError(f"--out {out}: {index} is not readable JSON; remove it") from None
        if before != uris:
            raise PhotoJobError(
                f"--out {out}: its pairs came from another list of sources ({len(before)} then, "
                f"{len(uris)} now): render into a new --out"
            )
        return
    write_json_atomic(index, {"sources": uris})


def run_photos(
    photos: str,
    out: Path,
    cfg,
    depth_model: str | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    kernels: dict | None = None,
    progress: bool = True,
) -> dict:
    """The whole job (module docstring); returns the stats it writes to ``OUT/stats.json``."""
    t0 = time.perf_counter()
    out = Path(out)
    try:
        sources = list_sources(photos)
    except ValueError as e:
        raise PhotoJobError(str(e)) from None
    if (out / "dataset.json").exists() or (out / "pool.json").exists():
        raise PhotoJobError(
            f"--out {out}: a path-traced render's folder (python -m synth render); write the "
            "2.5-D pairs into a folder of their own (their scene ids would collide)"
        )
    out.mkdir(parents=True, exist_ok=True)
    check_same_sources(out, sources)
    remove_stale_temps(out)
    metas = {i: done_meta(out, i) for i in range(len(sources))}  # each scene checked once
    todo = [i for i, meta in metas.items() if meta is None]
    rejects: dict[int, dict] = {}
    if todo:
        if workers == 0:
            worker = _Worker(out, cfg, depth_model, kernels)
            results = []
            for n, i in enumerate(todo):
                results.append(worker({"scene_id": i, "source": source_json(sources[i])}))
                if progress:
                    print(f"synth photos: {n + 1}/{len(todo)}", file=sys.stderr, flush=True)
        else:
            results = _run_ray(sources, todo, out, cfg, depth_model, ray_address, workers, kernels)
        for r in results:
            if r["reject"]:
                rejects[int(r["scene_id"])] = json.loads(r["reject"])
        metas.update({i: done_meta(out, i) for i in todo})
    rows, kept = [], 0
    for i, source in enumerate(sources):
        meta = metas[i]
        if meta is not None:
            rows.extend(meta["rows"])
            kept += 1
            rejects.pop(i, None)
        elif i not in rejects:  # rendered before but not complete now, or never reached
            detail = f"{source.uri}: not rendered (rerun to render it)"
            rejects[i] = reject_row(source, SourceReject("render", "render_failed", detail))
    rejects = dict(sorted(rejects.items()))
    for schema, part_rows in (("synthetic_pairs", rows), ("rejects", list(rejects.values()))):
        if part_rows:
            write_part(part_rows, out, schema, PART, created_by="synth photos")
        else:  # none now: a part of an earlier run must not stay behind
            (out / schema / f"part-{PART}.parquet").unlink(missing_ok=True)
    reasons: dict[str, int] = {}
    for r in rejects.values():
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    stats = {
        "inputs": len(sources),
        "kept": kept,
        "rejected": len(rejects),
        "renders": len(rows),
        "unit": "source images",
        "rendered_now": len(todo) - sum(1 for i in todo if i in rejects),
        "reasons": dict(sorted(reasons.items())),
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    write_json_atomic(out / "stats.json", stats)
    return stats


def _run_ray(sources, todo, out, cfg, depth_model, ray_address, workers, kernels) -> list[dict]:
    import ray

    from infra.ray_start import start_ray

    started = start_ray(ray_address, num_cpus=workers or None, log_to_driver=False)
    try:
        # each item carries its source: no worker holds the whole listing
        items = [{"scene_id": i, "source": source_json(sources[i])} for i in todo]
        ds = ray.data.from_items(items)
        ds = ds.map(
            _Worker,
            fn_constructor_args=(str(out), cfg, depth_model, kernels),
            concurrency=max(1, min(len(todo), workers or int(ray.cluster_resources()["CPU"]))),
        )
        return ds.take_all()
    finally:
        if started:
            ray.shutdown()
