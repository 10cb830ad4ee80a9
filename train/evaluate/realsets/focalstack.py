"""The focal-stack set of Learn2Refocus (Tedla, Zhang, Zhang, Xin, "Learning to Refocus with Video
Diffusion Models", SIGGRAPH Asia 2025): per scene nine real photos of one view, each focused at
another distance.

Layout of the ``midsize_undistorted`` download (896×640 JPEGs of the centre camera, what the
paper trains and tests on), as the project page's sample
(``learn2refocus.github.io/assets/dataset-sample/``) and the loader of its code
(``training/utils.py``, ``FocalStackDataset``) have it::

    ROOT/<scene>/midsize/undistorted/RigCenter/focal_position_<PPPP>_frame_<FFFF>.jpg

``<scene>`` is a capture's folder (``FSK_20241026073527GMT-04:00``), ``PPPP`` the focal position
0000-0008 (the iPhone lens position 0.0-0.8, from the nearest focus, about 5 cm, towards
infinity: the code's README), one frame per position. Slices are ordered by position, the
focus order. The test split is a pickle of scene names (``splits/test_scenes.pkl``), which is not
loaded here (unpickling runs code): every scene under ``ROOT`` is scored, so give a root that
holds the scenes meant. :func:`list_stacks` refuses in one line a file outside that pattern, two
frames at one position, and a scene with fewer than two slices. A method's refocused image from
slice *i* to slice *j* is ``<scene>/from_<iiii>/focal_position_<jjjj>.png`` in a predictions
folder (:func:`prediction_name`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from train.evaluate.realsets.files import RealSetError, list_folder

STACK_DIR = ("midsize", "undistorted", "RigCenter")
SLICE_NAME = re.compile(r"^focal_position_(\d{4})_frame_(\d{4})\.jpg$")
PATTERN = "<scene>/midsize/undistorted/RigCenter/focal_position_NNNN_frame_NNNN.jpg"


@dataclass(frozen=True)
class Slice:
    position: int
    path: str
    shown: str


@dataclass(frozen=True)
class Stack:
    """One scene's slices by focal position (the focus order)."""

    scene: str
    slices: tuple[Slice, ...]


def prediction_name(scene: str, source: int, target: int) -> str:
    """The predictions folder's file for ``scene`` refocused from position ``source`` to
    ``target``."""
    return f"{scene}/from_{source:04d}/focal_position_{target:04d}.png"


def list_stacks(root: str) -> list[Stack]:
    """Every scene's focal stack under ``root``, sorted by scene name."""
    files = list_folder(root)
    if not files:
        raise RealSetError(root, f"no images (an empty folder; the layout is {PATTERN})")
    found: dict[str, dict[int, Slice]] = {}
    for name in sorted(files):
        parts = name.split("/")
        where = os.path.join(root, *parts)
        match = SLICE_NAME.match(parts[-1])
        if len(parts) != 5 or tuple(parts[1:4]) != STACK_DIR or match is None:
            raise RealSetError(where, f"not part of the Learn2Refocus layout ({PATTERN})")
        position = int(match.group(1))
        stack = found.setdefault(parts[0], {})
        if position in stack:
            raise RealSetError(
                where, f"a second frame at focal position {position} ({stack[position].shown})"
            )
        stack[position] = Slice(position, files[name], where)
    stacks = []
    for scene in sorted(found):
        slices = tuple(found[scene][p] for p in sorted(found[scene]))
        if len(slices) < 2:
            raise RealSetError(
                os.path.join(root, scene), "one focal position only (a stack needs two or more)"
            )
        stacks.append(Stack(scene, slices))
    return stacks
