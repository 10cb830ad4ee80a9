"""Files of the trainer: atomic writes for its outputs and caches (metrics, plots, pseudo-AIF and
depth caches, prompt embeddings: ``write(tmp)`` fills a hidden temp file beside ``path``, which
is then renamed over it, so a reader or a killed run never sees a half-written file), and the
check that a model path is a local transformers folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Create ``path``'s folder, call ``write(tmp)``, rename ``tmp`` to ``path``; the temp file
    is removed if ``write`` fails."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
