"""Importing bpy with a clear message, silencing Cycles' progress lines, choosing the device."""

from __future__ import annotations

import contextlib
import os
import sys

BPY_VERSION = "4.5.15"


class BlenderUnavailable(RuntimeError):
    """``bpy`` cannot be imported in this interpreter; the message says how to get it."""


def drop_blender_script_paths() -> None:
    """Remove the script folders an imported ``bpy`` added to ``sys.path``.

    A process started with the ``spawn`` method inherits its parent's ``sys.path``; if the
    parent had imported bpy, ``import bpy`` in the child would find Blender's pure-Python
    ``scripts/modules/bpy`` before the real module and fail (``No module named '_bpy'``).
    Call this first thing in such a child; it is a no-op where bpy is already imported.
    """
    if "bpy" in sys.modules:
        return
    marker = f"{os.sep}bpy{os.sep}"
    sys.path[:] = [
        p
        for p in sys.path
        if not (marker in p and f"{os.sep}scripts" in p)
        and not p.endswith(f"{os.sep}scripts{os.sep}addons{os.sep}modules")
    ]


def require_bpy():
    """Import and return ``bpy``, or raise :class:`BlenderUnavailable` with a one-line fix."""
    try:
        import bpy
    except ImportError as e:
        py = ".".join(map(str, sys.version_info[:3]))
        raise BlenderUnavailable(
            f"bpy is not importable in {sys.executable} (Python {py}): synth renders with "
            f"Blender's bpy=={BPY_VERSION}, which needs Python 3.11; run `make setup` or "
            f"`python3.11 -m pip install bpy=={BPY_VERSION}` ({e})"
        ) from None
    return bpy


@contextlib.contextmanager
def redirect_native_stdout(log_path: str | None):
    """Send the C-level stdout (Cycles' ``Fra:... Sample`` lines) to ``log_path`` or /dev/null."""
    sys.stdout.flush()
    target = open(log_path, "ab") if log_path else open(os.devnull, "wb")  # noqa: SIM115
    saved = os.dup(1)
    try:
        os.dup2(target.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        target.close()


def configure_device(scene, device: str) -> str:
    """Use a GPU when asked (``gpu``) or when one exists (``auto``); return what is used."""
    if device == "cpu":
        scene.cycles.device = "CPU"
        return "CPU"
    import bpy

    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        prefs = None
    if prefs is not None:
        for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
            try:
                prefs.compute_device_type = backend
            except TypeError:
                continue
            prefs.get_devices()
            gpus = [d for d in prefs.devices if d.type == backend]
            if gpus:
                for d in prefs.devices:
                    d.use = d.type == backend
                scene.cycles.device = "GPU"
                return f"GPU ({backend})"
    if device == "gpu":
        raise BlenderUnavailable("render.device = gpu but Cycles finds no GPU on this node")
    scene.cycles.device = "CPU"
    return "CPU"
