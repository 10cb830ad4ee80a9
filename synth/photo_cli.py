"""``python -m synth photos``: the 2.5-D route's flags and its run (``synth.photo_job``)."""

from __future__ import annotations

from pathlib import Path

from infra.config_file import add_set_argument, integer
from optics.aperture import KernelError
from synth.config import MAX_PROCESSES, ConfigError, load_config
from synth.kernels import resolve_shapes


def add_photos(sub, subparser) -> None:
    """The ``photos`` subcommand's flags (``subparser`` makes it with the CLI's help format)."""
    s = subparser(
        sub,
        "photos",
        "the 2.5-D route: bokeh pairs from all-in-focus images and depth (no Blender)",
    )
    s.add_argument(
        "--photos",
        required=True,
        metavar="SOURCE",
        help="a real_photos manifest, a synthetic_pairs manifest (its scenes' AIF renders and "
        "true depth) or a folder of images with NAME.depth.npy / NAME.depth.png sidecars",
    )
    s.add_argument("--out", required=True, help="output root (scenes, manifests, stats)")
    s.add_argument("--config", help="TOML config (default synth/configs/default.toml; [photos])")
    s.add_argument(
        "--depth-model",
        metavar="DIR",
        help="local transformers depth-estimation model for sources without depth",
    )
    s.add_argument(
        "--workers",
        type=integer(0, MAX_PROCESSES),
        help=f"Ray Data workers, 0-{MAX_PROCESSES} (default: every CPU; 0: in this process)",
    )
    s.add_argument(
        "--ray-address",
        dest="ray_address",
        metavar="ADDRESS",
        help="a running Ray cluster ('auto'); default: a local Ray",
    )
    add_set_argument(s, "photos.pairs_per_photo=2")
    s.add_argument("--quiet", action="store_true", help="no progress lines")


def photos(a, error) -> int:
    """Run ``python -m synth photos``; ``error`` prints a refused run's one line (exit 2)."""
    from synth.photo_job import PhotoJobError, run_photos

    try:
        cfg = load_config(a.config, a.set)
        cfg, kernels = resolve_shapes(cfg)
        if a.depth_model:
            from infra.depth_model import local_model_dir

            local_model_dir(a.depth_model, "depth")
        stats = run_photos(
            a.photos,
            Path(a.out),
            cfg,
            depth_model=a.depth_model,
            ray_address=a.ray_address,
            workers=a.workers,
            kernels=kernels,
            progress=not a.quiet,
        )
    except (ConfigError, KernelError, PhotoJobError, OSError) as e:
        return error(e)
    why = ", ".join(f"{n} {r}" for r, n in stats["reasons"].items())
    print(
        f"synth photos: {stats['inputs']} source(s): {stats['kept']} rendered "
        f"({stats['renders']} pairs), {stats['rejected']} rejected{f' ({why})' if why else ''} "
        f"in {stats['wall_s']:.1f} s -> {a.out}\n  check it: python -m manifests validate {a.out}"
    )
    return 1 if stats["rejected"] else 0
