"""RealBokeh (Seizinger et al., "Bokehlicious", ICCV 2025; Hugging Face dataset
``timseizinger/RealBokeh_3MP``): per scene one photo at f/22 and the same view at several wider
apertures, a real aperture sweep at a fixed focus.

Layout of a split folder (``test/``, ``validation/``, ``train/``), as the dataset and the
official loader (``dataset/loader.py`` of TimSeizinger/Bokehlicious) have it::

    metadata/<id>.json   {"id": 135, "source_image": "in/135_f22.JPG", "source_av": 22.0,
                          "target_images": ["gt/135/135_f2.0.JPG", ...],
                          "target_avs": [2.0, ...], "focal_length": ..., ...}
    in/<id>_f22.JPG      the f/22 photo (the method's input)
    gt/<id>/<id>_f<N>.JPG  the photos at f/N

``ROOT`` is a split folder (it holds ``metadata/``) or the dataset folder, whose ``test/`` split
is then read. The f-numbers come from the metadata (``source_av``, ``target_avs``), never from
the file names. A scene's sweep is all its photos by decreasing f-number, so by increasing blur:
the blur radius at a fixed focus distance and focal length is proportional to the aperture
diameter, so ``K ∝ 1/N`` and the relative K of a frame is ``N_source / N`` (1 for the source;
the controllability forms are scale-invariant in K). :func:`list_sweeps` refuses in one line a
missing ``metadata/``, a metadata file that is not such a JSON object, a path that escapes the
split or names a missing file, two frames of a scene at one f-number, and an image under
``in/`` or ``gt/`` that no metadata names (unpaired). A prediction for a frame is named after
it with the suffix ``.png`` (``gt/135/135_f2.0.png``, :func:`prediction_name`).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from dataclasses import dataclass

from infra.uri import read_bytes
from manifests.paths import path_problem
from train.evaluate.realsets.files import RealSetError, is_image_name, list_folder, shown

MIN_F_NUMBER, MAX_F_NUMBER = 0.5, 128.0  # a lens's f-number; anything else is a broken file
MAX_METADATA_BYTES = 1 << 20


@dataclass(frozen=True)
class Frame:
    """One photo of a sweep: ``name`` relative to the split, its resolved and shown paths and
    its f-number; ``source``: the scene's f/22 input."""

    name: str
    path: str
    shown: str
    f_number: float
    source: bool


@dataclass(frozen=True)
class Sweep:
    """A scene's photos by decreasing f-number (increasing blur)."""

    scene: str
    frames: tuple[Frame, ...]

    @property
    def source(self) -> Frame:
        return next(f for f in self.frames if f.source)

    def k_values(self) -> list[float]:
        """The relative K of each frame, ``N_source / N`` (strictly increasing)."""
        return [self.source.f_number / f.f_number for f in self.frames]


def prediction_name(name: str) -> str:
    return posixpath.splitext(name)[0] + ".png"


def split_folder(root: str) -> tuple[str, str]:
    """``(sub, shown split folder)``: ``""`` when ``root`` holds ``metadata/``, ``"test"`` when
    it is the dataset folder."""
    if not os.path.isdir(root):
        why = "not a folder" if os.path.exists(root) else "does not exist"
        raise RealSetError(root, f"the dataset root {why}")
    for sub in ("", "test"):
        if os.path.isdir(os.path.join(root, sub, "metadata")):
            return sub, os.path.join(root, sub) if sub else root
    raise RealSetError(
        os.path.join(root, "metadata"),
        "missing (RealBokeh: ROOT/metadata/<id>.json with in/ and gt/, or the dataset folder "
        "holding test/; docs/real-datasets.md)",
    )


def list_sweeps(root: str) -> list[Sweep]:
    """Every scene's sweep under ``root``, sorted by id (see the module docstring)."""
    sub, split = split_folder(root)
    files = list_folder(root, sub)
    metas = sorted(n for n in files if n.startswith("metadata/"))
    for n in metas:
        if n.count("/") != 1 or not n.endswith(".json"):
            raise RealSetError(os.path.join(split, n), "not a metadata file (metadata/<id>.json)")
    if not metas:
        raise RealSetError(os.path.join(split, "metadata"), "no metadata files (an empty folder)")
    sweeps = [_sweep(_read_json(files[n], os.path.join(split, n)), n, files, split) for n in metas]
    named = {f.name for s in sweeps for f in s.frames}
    for n in sorted(files):
        if n.startswith(("in/", "gt/")) and n not in named:
            why = "not named by any metadata/*.json (unpaired)"
            if not is_image_name(n):
                why = "not an image file of the layout (the photos are .JPG)"
            raise RealSetError(os.path.join(split, n), why)
    ids = [s.scene for s in sweeps]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RealSetError(os.path.join(split, "metadata"), f"two metadata files with id {dup}")
    return sorted(sweeps, key=_order)


def _order(sweep: Sweep) -> tuple:
    """Numeric ids in numeric order, then any named ones by name."""
    s = sweep.scene
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def _read_json(path: str, where: str) -> dict:
    try:
        text = read_bytes(path, max_bytes=MAX_METADATA_BYTES).decode("utf-8")
        data = json.loads(text, parse_constant=_no_constant)
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or e
        raise RealSetError(where, f"not a readable metadata JSON ({reason})") from None
    if not isinstance(data, dict):
        raise RealSetError(where, "not a metadata JSON object")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _f_number(value, where: str, key: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not MIN_F_NUMBER <= value <= MAX_F_NUMBER:
        raise RealSetError(
            where,
            f"{key} must be an f-number in [{MIN_F_NUMBER:g}, {MAX_F_NUMBER:g}], got {value!r}",
        )
    return float(value)


def _sweep(meta: dict, meta_name: str, files: dict[str, str], split: str) -> Sweep:
    where = os.path.join(split, meta_name)
    scene = meta.get("id")
    if isinstance(scene, bool) or not isinstance(scene, int | str) or str(scene) == "":
        raise RealSetError(where, f"id must be an integer or a name, got {scene!r}")
    targets, avs = meta.get("target_images"), meta.get("target_avs")
    if not isinstance(targets, list) or not isinstance(avs, list) or len(targets) != len(avs):
        raise RealSetError(where, "target_images and target_avs must be lists of one length")
    entries = [(meta.get("source_image"), meta.get("source_av"), True, "source")]
    entries += [
        (t, a, False, f"target_avs[{i}]") for i, (t, a) in enumerate(zip(targets, avs, strict=True))
    ]
    frames = []
    for rel, av, is_source, key in entries:
        why = path_problem(rel) if isinstance(rel, str) else "is not a string"
        if why:
            why = why.replace("manifest root", "split folder")
            raise RealSetError(where, f"names {shown(str(rel))}, which {why}")
        rel = posixpath.normpath(rel)
        if rel not in files:
            raise RealSetError(where, f"names {shown(rel)}, which is missing")
        if not rel.startswith(("in/", "gt/")) or not is_image_name(rel):
            raise RealSetError(where, f"names {shown(rel)}, which is not a photo under in/ or gt/")
        number = _f_number(av, where, key)
        frames.append(Frame(rel, files[rel], os.path.join(split, rel), number, is_source))
    numbers = [f.f_number for f in frames]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise RealSetError(where, f"two photos at f/{dup:g} (a sweep needs one per aperture)")
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise RealSetError(where, "names one photo twice")
    frames.sort(key=lambda f: -f.f_number)
    return Sweep(str(scene), tuple(frames))
