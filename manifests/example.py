"""Small, valid example rows of every schema (docs, the demo placeholder and tests use them).

The synthetic rows carry labels computed with ``optics`` exactly as synth will compute them, so
an example manifest is also a worked example of the physics conventions. Odd scenes are shaped
(every render through a shaped aperture: its label, its kernel PNG, blades 0, ratio 1), as synth
samples them; even scenes use Cycles' own round or bladed aperture.
"""

from __future__ import annotations

import hashlib
import json
import os

from optics import (
    crop_factor,
    f_number_equivalent,
    k_synthetic,
    pixel_ratio,
    sensor_width_from_exif,
)
from optics.aperture import ApertureShape


def synthetic_rows(n_scenes: int = 2, renders_per_scene: int = 3) -> list[dict]:
    rows = []
    for scene in range(n_scenes):
        shaped = scene % 2 == 1
        for r in range(renders_per_scene):
            focal_mm, n, sensor_mm, width = 50.0, [1.8, 2.8, 4.0][r % 3], 36.0, 128
            focus_m = 1.5 + 0.5 * r
            sdir = f"scenes/{scene:06d}"
            rotation_deg = 15.0 * r
            shape = [("polygon", 3), ("star", 5), ("heart", 0)][r % 3]
            label = ApertureShape(*shape, rotation_deg).label if shaped else None
            rows.append(
                {
                    "dataset_id": "example",
                    "scene_id": scene,
                    "render_id": r,
                    "split": "train" if scene % 5 else "val",
                    "aif_path": f"{sdir}/aif.png",
                    "depth_path": f"{sdir}/depth.npy",
                    "bokeh_path": f"{sdir}/dof_{r:02d}.png",
                    "coc_path": f"{sdir}/coc_{r:02d}.npy",
                    "bokeh_jpeg_path": f"{sdir}/dof_{r:02d}.jpg",
                    "bokeh_exr_path": None,
                    "aperture_kernel_path": f"{sdir}/dof_{r:02d}_kernel.png" if shaped else None,
                    "width_px": width,
                    "height_px": width,
                    "focal_length_mm": focal_mm,
                    "sensor_width_mm": sensor_mm,
                    "f_number": n,
                    "focus_distance_m": focus_m,
                    "aperture_blades": 0 if shaped else [0, 6, 9][r % 3],
                    "aperture_rotation_deg": rotation_deg,
                    "aperture_ratio": 1.0,
                    "aperture_shape_id": label,  # polygon3, star5@15, heart@30
                    "k_genrefocus": float(k_synthetic(focal_mm, n, sensor_mm, width)),
                    "k_ref_width_px": width,
                    "disp_focus": 1.0 / focus_m,
                    "render_samples": 16,
                    "render_engine": "CYCLES",
                    "spec_hash": hashlib.sha256(f"example-{scene}".encode()).hexdigest()[:16],
                    "scene_kind": "cards",
                    "source_photos": [hashlib.sha256(f"photo-{scene}".encode()).hexdigest()],
                    "bpy_version": None,
                    "project_version": None,
                }
            )
    return rows


def real_photo_rows() -> list[dict]:
    sensor = sensor_width_from_exif(focal_length_mm=100, focal_length_35mm=150, model="NIKON D70")
    w, h, n = 3008, 2000, 2.8
    return [
        {
            "uri": "photos/nikon_d70_portrait.jpg",
            "sha256": hashlib.sha256(b"example photo").hexdigest(),
            "size_bytes": 2_345_678,
            "width_px": w,
            "height_px": h,
            "make": "NIKON CORPORATION",
            "model": "NIKON D70",
            "lens_model": None,
            "f_number": n,
            "focal_length_mm": 100.0,
            "focal_length_35mm": 150.0,
            "orientation": 1,
            "capture_time": "2005:06:01 12:00:00",
            "sensor_width_mm": sensor.width_mm,
            "sensor_width_source": sensor.source,
            "crop_factor": crop_factor(sensor.width_mm),
            "f_number_equivalent": f_number_equivalent(n, sensor.width_mm),
            "pixel_ratio": pixel_ratio(w, h, sensor.width_mm),
            "sharpness": 412.5,
            "bokeh_evidence": 3.1,
            "all_in_focus": False,
            "exposure_clipping": 0.002,
            "clip_quality": None,
            "clip_shallow_dof": None,
            "clip_embedding": None,
            "phash": 0x8F3C_1E0F_0F1E_3C8F,
            "split": "train",
        }
    ]


def reject_rows() -> list[dict]:
    return [
        {
            "uri": "photos/landscape_f11.jpg",
            "stage": "filter",
            "reason": "f_number_equivalent_too_high",
            "detail": "f/11 x crop 1.5 = f/16.5 equivalent > 8",
            "duplicate_of": None,
        }
    ]


def write_example(root: str) -> dict[str, str]:
    """Write one part of each schema and a matching ``stats.json`` under ``root``."""
    from manifests.io import write_part

    written = {
        "synthetic_pairs": write_part(
            synthetic_rows(), root, "synthetic_pairs", 0, created_by="example"
        ),
        "real_photos": write_part(real_photo_rows(), root, "real_photos", 0, created_by="example"),
        "rejects": write_part(reject_rows(), root, "rejects", 0, created_by="example"),
    }
    stats = {"inputs": 2, "kept": 1, "rejected": 1, "kept_schema": "real_photos"}
    with open(os.path.join(root, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    written["stats"] = os.path.join(root, "stats.json")
    return written
