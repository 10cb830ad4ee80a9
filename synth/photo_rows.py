"""The 2.5-D route's manifest rows: ``synthetic_pairs`` rows of a rendered source, ``rejects``
rows of one that cannot be rendered. Plain data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from manifests.io import project_version
from manifests.schemas import PHOTO_2P5D_KIND, split_of
from synth.photo_pairs import (
    DEFAULT_FOCAL_LENGTH_MM,
    DEFAULT_SENSOR_WIDTH_MM,
    RENDER_ENGINE,
    f_number_for_k,
)
from synth.photo_sources import Source, SourceReject


def pair_rows(source, scene_id, params, files, width_px, height_px, sha, cfg) -> list[dict]:
    """The ``synthetic_pairs`` rows of one rendered source (docs/synth.md, "The 2.5-D route")."""
    base = f"scenes/{scene_id:06d}"
    split = source.split or split_of(sha, cfg.split.val, cfg.split.test)
    lens = source.focal_length_mm or DEFAULT_FOCAL_LENGTH_MM
    sensor = source.sensor_width_mm or DEFAULT_SENSOR_WIDTH_MM
    settings = cfg.photos.model_dump(mode="json")
    dataset_id = source.rows[0]["dataset_id"] if source.rendered else cfg.dataset_id
    rows = []
    for i, pp in enumerate(params):
        spec = json.dumps(
            {"source": sha, "pair": asdict(pp), "photos": settings, "size": [width_px, height_px]},
            sort_keys=True,
        )
        f_number = f_number_for_k(pp.k, width_px, lens, sensor)
        rows.append(
            {
                "dataset_id": f"{dataset_id}-2p5d",
                "scene_id": scene_id,
                "render_id": i,
                "split": split,
                "aif_path": f"{base}/aif.png",
                "depth_path": f"{base}/depth.npy",
                "bokeh_path": f"{base}/{files[f'dof_{i:02d}']}",
                "coc_path": f"{base}/coc_{i:02d}.npy",
                "bokeh_jpeg_path": None,
                "bokeh_exr_path": None,
                "aperture_kernel_path": f"{base}/{files[f'dof_{i:02d}_kernel']}"
                if f"dof_{i:02d}_kernel" in files
                else None,
                "width_px": width_px,
                "height_px": height_px,
                "focal_length_mm": float(lens),
                "sensor_width_mm": float(sensor),
                "f_number": float(f_number),
                "focus_distance_m": 1.0 / pp.disp_focus,
                "aperture_blades": pp.blades,
                "aperture_rotation_deg": pp.rotation_deg,
                "aperture_ratio": pp.ratio,
                "aperture_shape_id": pp.shape,
                "k_genrefocus": pp.k,
                "k_ref_width_px": width_px,
                "disp_focus": pp.disp_focus,
                "render_samples": None,
                "render_engine": RENDER_ENGINE,
                "spec_hash": hashlib.sha256(spec.encode()).hexdigest()[:16],
                "scene_kind": PHOTO_2P5D_KIND,
                "source_photos": [sha],
                "bpy_version": None,
                "project_version": project_version(),
            }
        )
    return rows


def reject_row(source: Source, e: SourceReject) -> dict:
    return {
        "uri": source.uri,
        "stage": e.stage,
        "reason": e.reason,
        "detail": e.detail.splitlines()[0],
        "duplicate_of": None,
    }
