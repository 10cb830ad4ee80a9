"""What a cached latent is keyed by: the codec, the source file's bytes, the crop, the labels.

A sample of a ``synthetic_pairs`` row at its fixed crop needs the latents of its target and
conditions (:func:`sample_keys`: deblur: the AIF, then the DoF render; bokeh: the DoF render,
then the AIF, the defocus map and, with ``shape_condition``, the kernel image) and the crop's
disparity range (for the checkpoint's ``blur_max_px``). Each key is the SHA-256 of a line naming
the codec (:func:`codec_id`: the pixel factor, or the SHA-256 of the VAE's config and weights),
what the image is made from (a file's SHA-256; a map's depth file, focus and K; a kernel's file or
Cycles' blades, rotation and ratio) and the geometry (resize and crop). A file's SHA-256 is taken
from the cache's record when its size and modification time match, else the file is read again
(:class:`FileHashes`): a file rewritten with other bytes gets another key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import optics
from infra.uri import is_uri, join_root
from train.data.build import Geometry, draw_geometry, read_bytes


def codec_id(cfg) -> str:
    """``pixel<factor>``, or ``vae-<sha256>`` of ``model.path/vae``'s files (config and weights,
    in name order)."""
    m = cfg.model
    if m.codec == "pixel":
        return f"pixel{m.pixel_factor}"
    from train.checkpoint import sha256_file

    files = sorted(p for p in (Path(m.path) / "vae").iterdir() if p.is_file())
    record = "\n".join(f"{f.name}:{sha256_file(f)}" for f in files)
    return f"vae-{hashlib.sha256(record.encode()).hexdigest()[:32]}"


class FileHashes:
    """SHA-256 of source files, from ``known`` (``uri -> [size, mtime_ns, sha256]``, the
    cache's record) when the file's size and modification time still match."""

    def __init__(self, known: dict[str, list] | None = None):
        self.known = dict(known or {})
        self.new: dict[str, list] = {}  # what this process hashed, for the next shard's record

    def sha256(self, path: str, root: str | None) -> str:
        full = join_root(path, root)
        stat = None if is_uri(full) else os.stat(full)
        record = self.new.get(full) or self.known.get(full)
        if stat is not None and record and record[:2] == [stat.st_size, stat.st_mtime_ns]:
            return record[2]
        sha = hashlib.sha256(read_bytes(path, root)).hexdigest()
        if stat is not None:
            self.new[full] = [stat.st_size, stat.st_mtime_ns, sha]
        return sha


@dataclass(frozen=True)
class SampleKeys:
    """A sample's latent keys (target, conditions) and its disparity-range key."""

    target: str
    conds: tuple[str, ...]
    disp: str
    k: float
    disp_focus: float


def _key(codec: str, what: str) -> str:
    return hashlib.sha256(f"{codec}|{what}".encode()).hexdigest()[:40]


def geometry_text(g: Geometry) -> str:
    return f"{g.width_px}x{g.height_px}+{g.x0}+{g.y0}/{g.crop_w_px}x{g.crop_h_px}"


def row_geometry(row: dict, cfg, crop) -> tuple[Geometry, float]:
    """The fixed geometry of a row's sample and K at its working width (as ``build_sample``)."""
    w, h = int(row["width_px"]), int(row["height_px"])
    g = draw_geometry(np.random.default_rng(0), w, h, cfg, False, crop)
    k_file = optics.rescale_k(row["k_genrefocus"], row["k_ref_width_px"], w)
    return g, float(optics.rescale_k(k_file, w, g.width_px))


def sample_keys(row: dict, cfg, crop, hashes: FileHashes, codec: str) -> SampleKeys:
    """The keys of one row's sample at ``crop`` (None: the square) for ``cfg`` (DataConfig)."""
    root = row.get("_root")
    g, k = row_geometry(row, cfg, crop)
    geo = geometry_text(g)
    aif = _key(codec, f"rgb:{hashes.sha256(row['aif_path'], root)}:{geo}")
    dof = _key(codec, f"rgb:{hashes.sha256(row['bokeh_path'], root)}:{geo}")
    depth = hashes.sha256(row["depth_path"], root)
    df = float(row["disp_focus"])
    disp = _key(codec, f"disp-range:{depth}:{geo}")
    if cfg.task == "deblur":
        return SampleKeys(aif, (dof,), disp, k, df)
    conds = [aif, _key(codec, f"map:{depth}:{geo}:{df!r}:{k!r}")]
    if cfg.shape_condition:
        path = row.get("aperture_kernel_path")
        if path:
            what = hashes.sha256(path, root)
        else:
            what = [row.get(c) for c in ("aperture_blades", "aperture_rotation_deg")]
            what = f"cycles:{what}:{row.get('aperture_ratio')}"
        conds.append(_key(codec, f"kernel:{what}:{g.crop_w_px}x{g.crop_h_px}"))
    return SampleKeys(dof, tuple(conds), disp, k, df)
