"""The check that a model path is a local transformers folder (``infra.depth_model``).

The trainer's outputs and caches are written with ``infra.files.atomic_write``."""

from __future__ import annotations

from infra.depth_model import local_model_dir

__all__ = ["local_model_dir"]
