"""Validation images while training (``eval.images_every``): strips at the expected steps and of
the expected size, in TensorBoard too, the same strip for the same weights (fixed noise), the
moving-average weights when the run keeps them, and training untouched by them."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from train.config import TrainConfigError, load_train_config
from train.evaluate.validation import (
    HEADER_PX,
    PAD_PX,
    ValidationImages,
    settings_grid,
    strip_path,
    strip_size_px,
)
from train.launch.local import train_local


def _config(name: str, **eval_keys):
    cfg = load_train_config(name)
    cfg.compute_threads = 1  # runs are compared bit for bit
    cfg.optim.batch_size, cfg.optim.lr, cfg.optim.warmup_steps = 2, 1e-2, 0  # visible changes
    cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 1
    cfg.eval.lvcorr_images, cfg.eval.k_sweep = 1, [0.0, 40.0]
    for key, value in eval_keys.items():
        setattr(cfg.eval, key, value)
    return cfg


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _losses(run: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "log.jsonl").read_text().splitlines()]


def _tensorboard_images(run: Path) -> dict[int, tuple[int, int]]:
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={IMAGES: 0})
    acc.Reload()
    assert "validation" in acc.Tags()[IMAGES], acc.Tags()
    return {e.step: (e.height, e.width) for e in acc.Images("validation")}


@pytest.fixture(scope="module")
def bokeh_runs(synth_manifest, tmp_path_factory):
    """bokehnet_tiny for 3 steps without and with a strip every 2 steps."""
    runs = {}
    for every in (0, 2):
        cfg = _config("bokehnet_tiny.toml", images_every=every, images=2)
        cfg.eval.image_k, cfg.eval.image_focus = [10.0, 40.0], [0.2, 0.8]
        run = tmp_path_factory.mktemp(f"every{every}") / "run"
        train_local(cfg, [synth_manifest], run, steps=3, show_progress=False)
        runs[every] = (cfg, run)
    return runs


def test_strips_at_every_n_steps_and_the_last_in_files_and_tensorboard(bokeh_runs):
    cfg, run = bokeh_runs[2]
    names = sorted(p.name for p in (run / "validation").iterdir())
    assert names == ["step-000002.png", "step-000003.png"]
    columns = 1 + len(settings_grid(cfg.eval)) + 1  # AIF, 2 focus planes × 2 K, the truth
    side = cfg.data.resolution_px  # eval.resolution_px = 0: the training crop
    want = strip_size_px(2, columns, side, side)
    assert want == (HEADER_PX + PAD_PX + 2 * (side + PAD_PX), PAD_PX + 6 * (side + PAD_PX))
    strips = {s: _read(strip_path(run, s)) for s in (2, 3)}
    assert all(a.shape == (*want, 3) for a in strips.values())
    assert _tensorboard_images(run) == {2: want, 3: want}
    # the inputs and truths are the same samples; the outputs changed with the weights
    out_x = slice(PAD_PX + (side + PAD_PX), PAD_PX + (columns - 1) * (side + PAD_PX))
    left, right = slice(0, out_x.start), slice(out_x.stop, None)
    assert np.array_equal(strips[2][:, left], strips[3][:, left])
    assert np.array_equal(strips[2][:, right], strips[3][:, right])
    assert not np.array_equal(strips[2][:, out_x], strips[3][:, out_x])
    assert not (bokeh_runs[0][1] / "validation").exists()


def test_validation_images_do_not_change_training(bokeh_runs):
    off, on = (_losses(bokeh_runs[every][1]) for every in (0, 2))
    assert len(on) == 3 and on == off  # bit for bit
    weights = [
        (r / "checkpoints" / "step-000003" / "trainable.safetensors").read_bytes()
        for _, r in bokeh_runs.values()
    ]
    assert weights[0] == weights[1]


def test_the_same_weights_give_the_same_strip(bokeh_runs, synth_manifest):
    from train.data.feed import TrainData
    from train.runs import load_run

    cfg, run = bokeh_runs[2]
    _, built = load_run(run)
    images = ValidationImages(cfg, TrainData.load(cfg, [synth_manifest]), run)
    built.denoiser.train()
    before = torch.random.get_rng_state()
    first, second = images.render(built), images.render(built)
    assert torch.equal(before, torch.random.get_rng_state())  # the global stream untouched
    assert built.denoiser.training  # its mode restored
    assert np.array_equal(first, second)
    assert np.array_equal(first, _read(strip_path(run, 3)))  # what the run wrote at its end


def test_deblurnet_strips_use_the_moving_average(synth_manifest, tmp_path):
    from safetensors.torch import load_file

    from train.checkpoint import apply_ema
    from train.data.feed import TrainData
    from train.runs import load_run

    cfg = _config("deblurnet_tiny.toml", images_every=1, images=3)
    cfg.optim.ema_decay = 0.5
    run = tmp_path / "deblur"
    train_local(cfg, [synth_manifest], run, steps=2, show_progress=False)
    strips = [_read(strip_path(run, s)) for s in (1, 2)]
    # input, output, truth of 3 held-out rows: 96 px asked, 48 px fit the 64 px frames
    assert strips[0].shape == strips[1].shape == (*strip_size_px(3, 3, 48, 48), 3)
    assert _tensorboard_images(run) == {1: strips[0].shape[:2], 2: strips[0].shape[:2]}
    _, built = load_run(run)  # the checkpoint's averaged weights
    images = ValidationImages(cfg, TrainData.load(cfg, [synth_manifest]), run)
    assert np.array_equal(images.render(built), strips[1])
    raw = run / "checkpoints" / "step-000002" / "trainable.safetensors"
    apply_ema(built.denoiser, load_file(str(raw)), raw)  # the last raw weights instead
    assert not np.array_equal(images.render(built), strips[1])


def test_the_samples_are_held_out_centre_crops_one_per_scene_first(synth_manifest):
    from train.data.feed import TrainData
    from train.data.split import scene_key
    from train.evaluate.validation import validation_batch

    cfg = _config("bokehnet_tiny.toml", images=4)
    data = TrainData.load(cfg, [synth_manifest])
    batch = validation_batch(data, 4)
    held = {f"{r['scene_id']}/{r['render_id']}": scene_key(r) for r in data.eval_rows}
    assert set(batch["id"]) <= set(held)  # held-out rows only
    scenes = [held[i] for i in batch["id"]]
    n_scenes = len(set(held.values()))
    assert len(set(scenes[:n_scenes])) == min(n_scenes, 4)  # each scene once before repeats
    # the crops are the evaluation's (the same builder): a row's crop is the same either way
    ev = {i: t for b in data.eval_batches() for i, t in zip(b["id"], b["target"], strict=True)}
    shared = [(j, i) for j, i in enumerate(batch["id"]) if i in ev]
    assert shared and all(torch.equal(batch["target"][j], ev[i]) for j, i in shared)


def test_scenes_first_takes_one_row_per_scene_before_repeats():
    from train.evaluate.validation import scenes_first

    rows = [{"scene_id": s, "render_id": r} for s, r in ((1, 0), (1, 1), (2, 0), (1, 2), (3, 0))]
    order = [(r["scene_id"], r["render_id"]) for r in scenes_first(rows)]
    assert order == [(1, 0), (2, 0), (3, 0), (1, 1), (1, 2)]


@pytest.mark.parametrize(
    "override, needle",
    [
        ("eval.images_every=-1", "eval.images_every: must be >= 0, got -1"),
        ("eval.images=0", "eval.images: must be >= 1, got 0"),
        ("eval.images=17", "eval.images: must be <= 16, got 17"),
        ("eval.image_k=[]", "eval.image_k: must have at least 1 item(s), got []"),
        ("eval.image_k=[10.0, 2000.0]", "eval.image_k[1]: must be <= 1000.0, got 2000.0"),
        ("eval.image_k=[-1.0]", "eval.image_k[0]: must be >= 0.0, got -1.0"),
        ("eval.image_focus=[0.2, 1.5]", "eval.image_focus[1]: must be <= 1.0, got 1.5"),
        ("eval.image_focus=[nan]", "eval.image_focus[0]: must be a finite number, got nan"),
        ("eval.image_focus=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]", "at most 8 item(s)"),
    ],
)
def test_bad_validation_image_keys_are_one_line_errors(override, needle):
    with pytest.raises(TrainConfigError) as e:
        load_train_config("bokehnet_tiny.toml", [override])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_validation_images_are_off_by_default():
    ev = load_train_config("bokehnet_tiny.toml").eval
    assert ev.images_every == 0 and ev.images == 2
    assert settings_grid(ev) == [(0.2, 10.0), (0.2, 40.0), (0.8, 10.0), (0.8, 40.0)]
