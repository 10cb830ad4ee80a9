"""The check that a model path is a local transformers folder (nothing is ever downloaded).

The trainer's outputs and caches are written with ``infra.files.atomic_write``."""

from __future__ import annotations

import os


def local_model_dir(local_path: str | os.PathLike, what: str) -> str:
    """The absolute path of a local transformers model folder (it must hold ``config.json``;
    nothing is ever downloaded); ``what`` names the model in the error."""
    path = os.path.abspath(os.path.expanduser(os.fspath(local_path)))
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(
            f"{path}: no {what} model here (expected a local transformers model directory with "
            "config.json; nothing is downloaded)"
        )
    return path
