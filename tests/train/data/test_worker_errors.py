"""A file that passed validation but cannot be read when a batch is built (corrupted, or removed
after the manifest was read) is one line naming the file and the reason, with DataLoader workers
as without them (torch alone would print "Caught OSError in DataLoader worker process 0 ...
Original Traceback ..."). Tiny hand-written manifests of 16² files; no Blender."""

import numpy as np
import pytest
from PIL import Image

from infra.images import write_kernel_png
from manifests import write_part
from manifests.example import synthetic_rows
from optics.aperture import parse_shape, rasterize
from train.config import load_train_config
from train.data.feed import MapStyleSource, TrainData

SIZE_PX = 16
SETTINGS = ["data.resolution_px=16", "eval.resolution_px=16"]


def tiny_manifest(root) -> list[dict]:
    """Three scenes of two renders each (scene 0 is held out), every file real and tiny."""
    rows = synthetic_rows(3, 2)
    for row in rows:
        row.update(width_px=SIZE_PX, height_px=SIZE_PX)
        for key, value in (("aif_path", 100), ("bokeh_path", 120), ("bokeh_jpeg_path", 120)):
            (root / row[key]).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((SIZE_PX, SIZE_PX, 3), value, np.uint8)).save(root / row[key])
        np.save(root / row["depth_path"], np.full((SIZE_PX, SIZE_PX), 2.0, np.float32))
        np.save(root / row["coc_path"], np.zeros((SIZE_PX, SIZE_PX), np.float32))
        if row["aperture_kernel_path"]:  # a shaped render's kernel
            kernel = rasterize(parse_shape(row["aperture_shape_id"]))
            write_kernel_png(root / row["aperture_kernel_path"], kernel)
    write_part(rows, root, "synthetic_pairs", 0)
    return [r for r in rows if r["split"] == "train"]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_is_one_line_and_exit_2(tmp_path, capsys, workers):
    from train.cli import main

    root = tmp_path / "m"
    train_rows = tiny_manifest(root)
    for row in train_rows:  # a valid PNG signature, then garbage: validation cannot tell
        (root / row["bokeh_path"]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    sets = [x for s in [f"data_workers={workers}", *SETTINGS] for x in ("--set", s)]
    argv = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", str(root)]
    code = main([*argv, "--out", str(tmp_path / "run"), "--steps", "2", "--quiet", *sets])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {root}/scenes/") and err.count("\n") == 1, err
    assert "dof_0" in err and ".png: cannot decode (" in err  # infra.images, one line
    assert "Traceback" not in err and "Caught" not in err


def test_a_file_removed_after_validation_in_a_worker(tmp_path):
    root = tmp_path / "m"
    train_rows = tiny_manifest(root)
    cfg = load_train_config("deblurnet_tiny.toml", ["data_workers=2", *SETTINGS])
    data = TrainData.load(cfg, [str(root)])  # reads and validates the manifest and its files
    for row in train_rows:
        (root / row["aif_path"]).unlink(missing_ok=True)
    with pytest.raises(OSError) as e:
        next(MapStyleSource(data).steps(0, 2))
    message = str(e.value)
    assert "\n" not in message and "Caught" not in message, message
    assert message.startswith(f"{root}/scenes/") and "aif.png: cannot read" in message
