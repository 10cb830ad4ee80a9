"""The paired deblurring sets: DPDD's Canon test set and RealDOF, as their published layouts.

* ``dpdd`` (Abuolaim & Brown, ECCV 2020; ``dd_dp_dataset_canon``): ``ROOT/test_c/source/*.png``
  (the defocused images, 16-bit sRGB PNG) and ``ROOT/test_c/target/*.png`` (the all-in-focus
  images, the same names). ``test_l/`` and ``test_r/`` (the dual-pixel views), ``train_c/`` and
  ``val_c/`` may be there and are not read: the sets score single-image deblurring.
* ``realdof`` (Lee et al., CVPR 2021, the IFAN repository): ``ROOT/source/*`` and
  ``ROOT/target/*`` (PNG or JPEG, the same names).

A source and its target are paired by their file name (the published loaders pair the sorted
lists, which is the same pairing when every name has its partner; a name without one is refused
here instead of silently shifting every later pair). :func:`list_pairs` refuses, in one line
naming the file (:class:`RealSetError`), a missing folder, an empty one, a file that is not a
PNG or JPEG by its name, a sub-folder, and an unpaired file; sizes and contents are checked when
a pair is read (:func:`read_pair`). A prediction for a pair is named after the source file with
the suffix ``.png`` (:func:`prediction_name`).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

import numpy as np

from train.evaluate.realsets.files import RealSetError, is_image_name, list_folder, read_image

LAYOUTS = {  # dataset -> (the blurred inputs, the all-in-focus targets), relative to ROOT
    "dpdd": ("test_c/source", "test_c/target"),
    "realdof": ("source", "target"),
}


@dataclass(frozen=True)
class Pair:
    """One blurred image and its all-in-focus target: ``name`` (the file name, the item's id),
    the resolved paths, and the paths as the messages show them."""

    name: str
    source: str
    target: str
    shown_source: str
    shown_target: str


def prediction_name(name: str) -> str:
    """The predictions folder's file for the pair ``name``: its stem with ``.png``."""
    return posixpath.splitext(name)[0] + ".png"


def list_pairs(dataset: str, root: str) -> list[Pair]:
    """Every pair of ``dataset`` under ``root``, sorted by name (see the module docstring)."""
    if dataset not in LAYOUTS:
        raise ValueError(f"unknown paired dataset {dataset!r}; one of {sorted(LAYOUTS)}")
    src_dir, tgt_dir = LAYOUTS[dataset]
    src = _images(root, src_dir)
    tgt = _images(root, tgt_dir)
    where_src = os.path.join(root, *src_dir.split("/"))
    where_tgt = os.path.join(root, *tgt_dir.split("/"))
    lone_src = sorted(set(src) - set(tgt))
    if lone_src:
        raise RealSetError(
            os.path.join(where_src, lone_src[0]),
            f"unpaired: no {tgt_dir}/{lone_src[0]} ({len(lone_src)} of {len(src)} sources "
            "have no target of the same name)",
        )
    lone_tgt = sorted(set(tgt) - set(src))
    if lone_tgt:
        raise RealSetError(
            os.path.join(where_tgt, lone_tgt[0]),
            f"unpaired: no {src_dir}/{lone_tgt[0]} ({len(lone_tgt)} targets have no source)",
        )
    stems: dict[str, str] = {}
    for name in sorted(src):
        other = stems.setdefault(prediction_name(name), name)
        if other != name:  # a.png and a.jpg would share the prediction a.png
            raise RealSetError(
                os.path.join(where_src, name),
                f"shares its stem with {other} (predictions are named by the stem)",
            )
    return [
        Pair(n, src[n], tgt[n], os.path.join(where_src, n), os.path.join(where_tgt, n))
        for n in sorted(src)
    ]


def _images(root: str, sub: str) -> dict[str, str]:
    files = list_folder(root, sub)
    where = os.path.join(root, *sub.split("/"))
    if not files:
        raise RealSetError(
            where, "no images (an empty folder; the layout is in docs/real-datasets.md)"
        )
    for name in sorted(files):
        if "/" in name:
            raise RealSetError(
                os.path.join(where, *name.split("/")),
                f"in a sub-folder of {sub}/, which holds image files only",
            )
        if not is_image_name(name):
            raise RealSetError(
                os.path.join(where, name), "not an image file of the layout (.png, .jpg, .jpeg)"
            )
    return files


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """``(source, target)`` as float32 H×W×3 in [0, 1]; a pair of different sizes is refused."""
    src = read_image(pair.source, pair.shown_source)
    tgt = read_image(pair.target, pair.shown_target)
    if src.shape != tgt.shape:
        raise RealSetError(
            pair.shown_source,
            f"{src.shape[1]}x{src.shape[0]} px, but its target is "
            f"{tgt.shape[1]}x{tgt.shape[0]} px (a pair must be the same size)",
        )
    return src, tgt
