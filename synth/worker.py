"""Render scenes and finish shards: the per-scene pipeline and the per-shard bookkeeping.

``render_scene_to_disk`` samples nothing: it takes a ``SceneSpec``, renders it through
``synth.blender`` into a temp folder, derives the labels with ``optics`` (signed CoC map in px,
exact K, ``disp_focus = 1/S``), writes PNG/npy/JPEG-with-EXIF and ``meta.json`` (with the
manifest rows and the scene's file list), checks every file and renames the folder into place
(``synth.shard.commit_scene_dir``). ``finish_shard`` gathers the done scenes of a shard into its
``synthetic_pairs`` part (and failed ones into ``rejects``), writes the shard's stats and
contact sheet, and refreshes the root ``stats.json``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import numpy as np

from manifests import write_part
from manifests.io import project_version
from optics import coc_cycles_px, k_synthetic
from synth.io import write_exif_jpeg, write_json_atomic
from synth.settings import dof_samples
from synth.shard import (
    commit_scene_dir,
    discard_temp_scene_dir,
    done_meta,
    done_problem,
    is_done,
    remove_stale_temps,
    shard_name,
    temp_scene_dir,
)
from synth.spec import SceneSpec

STATS_DIR = "stats"
LOGS_DIR = "logs"
CONTACT_DIR = "contact"


def coc_map_px(spec: SceneSpec, depth_m: np.ndarray, k: int) -> np.ndarray:
    """The signed CoC map (px, Cycles formula) of DoF render ``k`` from the stored depth."""
    d, cam = spec.dof[k], spec.camera
    return coc_cycles_px(
        cam.focal_length_mm,
        d.f_number,
        d.focus_distance_m,
        depth_m,
        cam.sensor_width_mm,
        spec.width_px,
    ).astype(np.float32)


EXACT_ENGINE = "CYCLES+exact-highlights"


def render_engine(settings: dict) -> str:
    """``render_engine`` of a scene's rows: Cycles, or Cycles with computed highlight discs."""
    return EXACT_ENGINE if settings.get("exact_highlights") else "CYCLES"


def manifest_rows(spec: SceneSpec, files: dict, settings: dict, bpy_version: str) -> list[dict]:
    """One ``synthetic_pairs`` row per DoF render; ``files`` are the names ``render_scene``
    wrote (``aif``, ``dof_KK``, optional ``dof_KK_exr`` and, for shaped renders,
    ``dof_KK_kernel``, the rasterised aperture kernel)."""
    cam = spec.camera
    base = f"scenes/{spec.scene_id:06d}"
    rows = []
    for k, d in enumerate(spec.dof):
        kernel = files.get(f"dof_{k:02d}_kernel")
        rows.append(
            {
                "dataset_id": spec.dataset_id,
                "scene_id": spec.scene_id,
                "render_id": k,
                "split": spec.split,
                "aif_path": f"{base}/{files['aif']}",
                "depth_path": f"{base}/depth.npy",
                "bokeh_path": f"{base}/{files[f'dof_{k:02d}']}",
                "coc_path": f"{base}/coc_{k:02d}.npy",
                "bokeh_jpeg_path": f"{base}/dof_{k:02d}.jpg",
                "bokeh_exr_path": f"{base}/{files[f'dof_{k:02d}_exr']}"
                if f"dof_{k:02d}_exr" in files
                else None,
                "aperture_kernel_path": f"{base}/{kernel}" if kernel is not None else None,
                "width_px": spec.width_px,
                "height_px": spec.height_px,
                "focal_length_mm": cam.focal_length_mm,
                "sensor_width_mm": cam.sensor_width_mm,
                "f_number": d.f_number,
                "focus_distance_m": d.focus_distance_m,
                "aperture_blades": d.blades,
                "aperture_rotation_deg": d.rotation_deg,
                "aperture_ratio": d.ratio,
                "aperture_shape_id": d.aperture,  # an optics.aperture label, None: Cycles'
                "k_genrefocus": float(
                    k_synthetic(cam.focal_length_mm, d.f_number, cam.sensor_width_mm, spec.width_px)
                ),
                "k_ref_width_px": spec.width_px,
                "disp_focus": 1.0 / d.focus_distance_m,
                "render_samples": dof_samples(
                    settings["samples"], settings.get("sweep_samples", 0), spec, k
                ),
                "render_engine": render_engine(settings),
                "spec_hash": spec.spec_hash,
                "scene_kind": spec.kind,
                "source_photos": spec.photo_ids,
                "bpy_version": bpy_version,
                "project_version": project_version(),
            }
        )
    return rows


def render_scene_to_disk(
    spec: SceneSpec,
    out: Path,
    settings,
    textures_dir: Path | None = None,
    jpeg_quality: int = 95,
    photos=None,
    kernels: dict | None = None,
) -> dict:
    """Render one scene into ``out/scenes/<id>`` atomically; returns its ``meta.json`` dict.
    Raises ``IncompleteSceneError`` (one line naming the file) when a file it names is missing,
    empty or malformed: ``DONE`` is only written for a complete scene."""
    t0 = time.perf_counter()
    tmp = temp_scene_dir(out, spec.scene_id)
    try:
        meta = _render_into(spec, tmp, settings, textures_dir, jpeg_quality, photos, kernels, t0)
        commit_scene_dir(tmp, out, spec.scene_id)
    except BaseException:  # a failed (or interrupted) render leaves no temp folder behind
        discard_temp_scene_dir(tmp)
        raise
    return meta


def _render_into(spec, tmp, settings, textures_dir, jpeg_quality, photos, kernels, t0) -> dict:
    import bpy

    from synth.blender.render import render_scene

    result = render_scene(spec, tmp, settings, textures_dir, photos, kernels)
    t_labels = time.perf_counter()
    depth = result.depth_m
    np.save(tmp / "depth.npy", depth)
    cam = spec.camera
    for k, d in enumerate(spec.dof):
        np.save(tmp / f"coc_{k:02d}.npy", coc_map_px(spec, depth, k))
        write_exif_jpeg(
            tmp / result.files[f"dof_{k:02d}"],
            tmp / f"dof_{k:02d}.jpg",
            model=f"Cycles {cam.sensor_name} {cam.sensor_width_mm:g}mm",
            f_number=d.f_number,
            focal_length_mm=cam.focal_length_mm,
            focal_length_35mm=cam.focal_length_35mm,
            sensor_width_mm=cam.sensor_width_mm,
            quality=jpeg_quality,
        )
    render_settings = {k: v for k, v in asdict(settings).items() if k != "log_path"}
    render_settings.update(
        device=result.device, exposure_ev=result.exposure_ev, depth_samples=1, depth_filter_px=0.01
    )
    timings = dict(result.timings_s)
    timings["labels_and_files"] = time.perf_counter() - t_labels
    meta = {
        "spec": spec.to_dict(),
        "spec_hash": spec.spec_hash,
        "seed": [spec.dataset_seed, spec.scene_id],
        "versions": {"bpy": bpy.app.version_string, "refocus_engine": project_version()},
        "render_settings": render_settings,
        "background_fraction": float(np.isinf(depth).mean()),
        "rows": manifest_rows(spec, result.files, render_settings, bpy.app.version_string),
        # every file of the scene: commit_scene_dir and is_done check each is there
        "files": sorted(
            {*result.files.values(), "depth.npy"}
            | {f"coc_{k:02d}.npy" for k in range(len(spec.dof))}
            | {f"dof_{k:02d}.jpg" for k in range(len(spec.dof))}
        ),
    }
    timings["scene_total"] = time.perf_counter() - t0
    meta["timings_s"] = timings
    write_json_atomic(tmp / "meta.json", meta)
    return meta


def render_scenes(
    specs: list[SceneSpec],
    out: Path,
    settings,
    textures_dir,
    jpeg_quality: int,
    log_path: Path,
    progress=None,
    photos=None,
    kernels: dict | None = None,
) -> dict:
    """Render each spec unless done; a failing scene is logged and skipped. Returns counts."""
    done, skipped, failed = [], [], {}
    render_s = wall_s = 0.0
    for spec in specs:
        if is_done(out, spec.scene_id):
            skipped.append(spec.scene_id)
        else:
            lie = done_problem(out, spec.scene_id)
            if lie is not None:  # its render replaces the folder when it is committed
                line = f"scene {spec.scene_id}: marked DONE but {lie}: rendering it again"
                print(f"synth: {line}", file=sys.stderr, flush=True)
                with open(log_path, "a") as log:
                    log.write(line + "\n")
            t0 = time.perf_counter()
            try:
                meta = render_scene_to_disk(
                    spec, out, settings, textures_dir, jpeg_quality, photos, kernels
                )
            except Exception as e:  # a scene failure must not stop the shard
                failed[spec.scene_id] = f"{type(e).__name__}: {e}".splitlines()[0]
                with open(log_path, "a") as log:
                    log.write(f"scene {spec.scene_id}: FAILED {failed[spec.scene_id]}\n")
                    log.write(traceback.format_exc())
            else:
                done.append(spec.scene_id)
                t = meta["timings_s"]
                render_s += sum(v for k, v in t.items() if k.startswith("render_"))
                wall_s += time.perf_counter() - t0
                with open(log_path, "a") as log:
                    log.write(
                        f"scene {spec.scene_id}: ok in {t['scene_total']:.2f} s "
                        f"({len(spec.dof)} DoF renders, hash {spec.spec_hash})\n"
                    )
        if progress is not None:
            progress.update(1)
    return {
        "rendered": done,
        "skipped": skipped,
        "failed": failed,
        "render_s": render_s,
        "scene_wall_s": wall_s,
    }


def finish_shard(out: Path, k: int, n: int, ids: list[int], failed: dict, counts: dict) -> dict:
    """Write the shard's manifest parts, stats and contact sheet; refresh root stats.json."""
    from synth.contact_sheet import write_contact_sheet

    out = Path(out)
    name = shard_name(k, n)
    rows, done_ids, failed = [], [], dict(failed)
    for sid in ids:
        meta = done_meta(out, sid)
        if meta is None and sid not in failed:  # replaced by another writer this instant?
            time.sleep(0.5)
            meta = done_meta(out, sid)
        if meta is not None:
            rows.extend(meta["rows"])
            done_ids.append(sid)
        elif sid not in failed:  # counted done before, not complete now: a rerun renders it
            failed[sid] = f"not complete at shard end: {done_problem(out, sid) or 'no DONE'}"
    failed = {sid: err for sid, err in failed.items() if sid not in done_ids}
    remove_stale_temps(out, ids)  # what writers of these scenes that died left behind
    part = write_part(rows, out, "synthetic_pairs", name, created_by="synth") if rows else None
    if failed:
        write_part(
            [
                {
                    "uri": f"scenes/{sid:06d}",
                    "stage": "render",
                    "reason": "render_failed",
                    "detail": err,
                    "duplicate_of": None,
                }
                for sid, err in sorted(failed.items())
            ],
            out,
            "rejects",
            name,
            created_by="synth",
        )
    sheet = write_contact_sheet(out, done_ids, out / CONTACT_DIR / f"shard-{name}.png")
    stats = {
        "shard": name,
        "inputs": len(ids),
        "kept": len(done_ids),
        "rejected": len(failed),
        "renders": len(rows),
        "failed": {str(s): e for s, e in sorted(failed.items())},
        "rendered_now": len(counts.get("rendered", [])),
        "skipped_done": len(counts.get("skipped", [])),
        "render_s": counts.get("render_s", 0.0),
        "scene_wall_s": counts.get("scene_wall_s", 0.0),
        "manifest_part": part,
        "contact_sheet": str(sheet) if sheet else None,
    }
    (out / STATS_DIR).mkdir(exist_ok=True)
    write_json_atomic(out / STATS_DIR / f"shard-{name}.json", stats)
    refresh_root_stats(out)
    return stats


def refresh_root_stats(out: Path) -> dict:
    """Sum every shard's stats into ``out/stats.json`` (scenes: inputs = kept + rejected)."""
    total = {"inputs": 0, "kept": 0, "rejected": 0, "renders": 0, "shards": 0, "unit": "scenes"}
    for p in sorted((Path(out) / STATS_DIR).glob("shard-*.json")):
        s = json.loads(p.read_text())
        for key in ("inputs", "kept", "rejected", "renders"):
            total[key] += s[key]
        total["shards"] += 1
    write_json_atomic(Path(out) / "stats.json", total)
    return total
