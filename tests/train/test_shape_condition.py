"""BokehNet's aperture-shape condition (``model.shape_condition``): the row's kernel, the kernel
as a third condition image, the prior blurring with it, training and refocus with it.

Tiny manifests written by hand (``manifests.example`` rows over 64² PNG / ``.npy`` files and the
shaped rows' kernel PNGs); no Blender. For FLUX backbones, the paper's recipe: a shape LoRA
trained over a frozen base BokehNet LoRA (``model.base_lora``), on a tiny random FLUX.
"""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from manifests import write_part
from manifests.example import synthetic_rows
from optics.aperture import KernelError, cycles_kernel, footprint, iou, parse_shape, rasterize
from optics.bokeh import aperture_kernel
from train.backbones.prior import disc_kernel, layered_blur
from train.data.aperture import kernel_from_text, row_kernel
from train.data.build import build_sample, collate, load_rows

SIZE_PX = 64


def _kernel_png(path, label: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    k = rasterize(parse_shape(label))
    Image.fromarray((k * 255).round().astype(np.uint8), "L").save(path)


def _files_for(root, row: dict, rng) -> None:
    for name in ("aif_path", "bokeh_path"):
        (root / row[name]).parent.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, (SIZE_PX, SIZE_PX, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / row[name])
    Image.open(root / row["bokeh_path"]).save(root / row["bokeh_jpeg_path"])
    depth = np.linspace(1.0, 4.0, SIZE_PX * SIZE_PX, dtype=np.float32).reshape(SIZE_PX, SIZE_PX)
    np.save(root / row["depth_path"], depth)
    np.save(root / row["coc_path"], np.zeros((SIZE_PX, SIZE_PX), np.float32))
    if row["aperture_kernel_path"]:
        _kernel_png(root / row["aperture_kernel_path"], row["aperture_shape_id"])


def shaped_manifest(root, n_scenes: int = 4) -> str:
    """Scenes 1 and 3 shaped (triangle, star, ...), 0 and 2 Cycles' round / bladed; scene 0 val."""
    rng = np.random.default_rng(0)
    rows = synthetic_rows(n_scenes, 2)
    for row in rows:
        row.update(width_px=SIZE_PX, height_px=SIZE_PX, k_ref_width_px=SIZE_PX)
        _files_for(root, row, rng)
    write_part(rows, root, "synthetic_pairs", 0)
    return str(root)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    return shaped_manifest(tmp_path_factory.mktemp("shaped") / "m")


# ---- the row's kernel ------------------------------------------------------------------------


def test_cycles_round_and_hexagon_match_the_optics_shapes():
    assert np.array_equal(cycles_kernel(0, 0.0, 1.0), rasterize(parse_shape("round")))
    # Cycles' vertex k at rotation + π/N + 2πk/N from +x is optics' polygonN@(rotation + 180/N
    # − 90) (the orientation is measured against a render in tests/synth/test_aperture_shapes.py)
    hexagon = cycles_kernel(6, 30.0, 1.0)
    assert np.abs(hexagon - rasterize(parse_shape("polygon6@-30"))).max() < 1e-6
    row = {"aperture_blades": 6, "aperture_rotation_deg": 30.0, "aperture_ratio": 1.0}
    assert np.array_equal(row_kernel(row), hexagon)


@pytest.mark.parametrize("label", ["round", "hexagon"])
def test_anamorphic_ratio_squeezes_the_shape_horizontally(label):
    blades = {"round": 0, "hexagon": 6}[label]
    squeezed = cycles_kernel(blades, 60.0, 2.0)  # 60 + 180/6 = 90: the label's own orientation
    full = rasterize(parse_shape(label))
    expect = np.zeros_like(full)
    expect[:, 32:96] = full.reshape(128, 64, 2).mean(-1)  # x halved about the centre
    assert iou(footprint(squeezed), footprint(expect)) > 0.97
    assert squeezed.sum() == pytest.approx(full.sum() / 2, rel=0.01)


def test_a_shaped_row_reads_its_kernel_png(manifest):
    rows = load_rows([manifest], "synthetic_pairs")
    shaped = [r for r in rows if r["aperture_kernel_path"]]
    assert shaped
    for r in shaped:
        want = rasterize(parse_shape(r["aperture_shape_id"]))
        assert np.abs(row_kernel(r) - want).max() <= 0.5 / 255 + 1e-6


def test_a_missing_or_hostile_kernel_png_is_one_line_naming_the_file(manifest, tmp_path):
    row = load_rows([manifest], "synthetic_pairs")[0]
    (tmp_path / "outside_kernel.png").write_bytes(b"x")
    for path in ("scenes/000001/nope_kernel.png", "../outside_kernel.png"):
        with pytest.raises(KernelError) as e:
            row_kernel(dict(row, aperture_kernel_path=path))
        assert "\n" not in str(e.value) and path.split("/")[-1] in str(e.value), str(e.value)
    garbage = tmp_path / "g" / "k.png"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a png")
    with pytest.raises(KernelError) as e:
        row_kernel(dict(row, aperture_kernel_path="k.png"), str(garbage.parent))
    assert "\n" not in str(e.value) and "k.png" in str(e.value)
    link = tmp_path / "g" / "link.png"
    link.symlink_to(tmp_path / "outside_kernel.png")
    with pytest.raises(KernelError, match="outside the manifest root"):
        row_kernel(dict(row, aperture_kernel_path="link.png"), str(garbage.parent))


def test_aperture_text_is_a_shape_or_a_png(tmp_path):
    assert np.array_equal(kernel_from_text("triangle"), rasterize(parse_shape("polygon3")))
    with pytest.raises(KernelError, match="unknown aperture 'blob'"):
        kernel_from_text("blob")
    with pytest.raises(KernelError) as e:
        kernel_from_text(str(tmp_path / "missing.png"))
    assert "missing.png" in str(e.value) and "\n" not in str(e.value)


# ---- the sample and the config ---------------------------------------------------------------


def _flip(sample: dict, i: int, dims: tuple) -> torch.Tensor:
    return sample["cond"][i].flip(dims) if dims else sample["cond"][i]


def test_the_sample_carries_the_kernel_and_flips_it_with_the_image(manifest, tiny_cfg):
    cfg = tiny_cfg("bokehnet_tiny_shape.toml")
    assert cfg.data.shape_condition
    rows = [r for r in load_rows([manifest], "synthetic_pairs") if r["aperture_kernel_path"]]
    row = next(r for r in rows if r["aperture_shape_id"].startswith("polygon3"))
    s = build_sample(row, cfg.data, np.random.default_rng(0), False)
    assert len(s["cond"]) == 3
    k = s["cond"][2]
    assert k.shape == (3, 32, 32) and k.dtype == torch.float32 and 0 <= k.min() <= k.max() <= 1
    want = torch.nn.functional.interpolate(
        torch.from_numpy(row_kernel(row))[None, None], (32, 32), mode="area"
    )[0, 0]
    assert torch.allclose(k[0], want) and torch.equal(k[0], k[2])
    cfg.data.augment = ("flip", "rgb")
    seen = set()
    for seed in range(8):  # every flip combination shows up: the kernel follows the images
        rng = np.random.default_rng(seed)
        plain = build_sample(row, cfg.data.model_copy(update={"augment": ()}), rng, True)
        aug = build_sample(row, cfg.data, np.random.default_rng(seed), True)
        dims = next(  # the flip the defocus map got (the colour permutation leaves maps alone)
            d
            for d in ((), (-1,), (-2,), (-1, -2))
            if torch.equal(_flip(plain, 1, d), aug["cond"][1])
        )
        seen.add(dims)
        assert torch.equal(aug["cond"][2], _flip(plain, 2, dims)), (seed, dims)
    assert len(seen) > 1
    batch = collate([s, s])
    assert [c.shape[1] for c in batch["cond"]] == [3, 3, 3]


def test_shape_condition_is_a_bokehnet_setting(tmp_path):
    from train.config import TrainConfigError, load_train_config

    with pytest.raises(TrainConfigError) as e:
        load_train_config("deblurnet_tiny.toml", ["model.shape_condition=true"])
    assert "model.shape_condition" in str(e.value) and "\n" not in str(e.value)
    plain = load_train_config("bokehnet_tiny.toml")
    assert not plain.model.shape_condition and not plain.data.shape_condition


# ---- the prior -------------------------------------------------------------------------------


def _point(size=96):
    img = torch.zeros(1, 3, size, size)
    img[..., size // 2, size // 2] = 1.0
    return img, torch.full((1, 3, size, size), 0.2)  # r = 20 px everywhere


def test_a_triangle_kernel_gives_a_triangle_footprint():
    img, dmap = _point()
    tri = rasterize(parse_shape("triangle"))
    kimg = torch.from_numpy(tri)[None, None].expand(1, 3, -1, -1)
    out = layered_blur(img, dmap, kernel=kimg)[0, 0].numpy()
    want = aperture_kernel(20.0, tri)
    h = want.shape[0] // 2
    crop = out[48 - h : 48 + h + 1, 48 - h : 48 + h + 1]
    assert iou(footprint(crop), footprint(want)) >= 0.9
    disc = footprint(disc_kernel(20.0).numpy())
    assert iou(footprint(crop), disc) < 0.8  # not the disc


def _layered_blur_before(image, dmap, max_layers=24):
    """The prior as it was before the shape condition (disc layers only)."""
    from train.backbones.prior import MAX_RADIUS_PX, fft_blur

    radius = dmap[:, :1].clamp(0, 1) * MAX_RADIUS_PX
    step = max(1.0, float(radius.max()) / max_layers)
    level = torch.round(radius / step)
    colour = torch.zeros_like(image, dtype=torch.float64)
    alpha = torch.zeros_like(radius, dtype=torch.float64)
    for v in torch.unique(level).flip(0).tolist():
        mask = (level == v).double()
        k = disc_kernel(v * step)
        c = fft_blur(image.double() * mask, k)
        a = fft_blur(mask, k).clamp(0, 1)
        colour = c + (1 - a) * colour
        alpha = a + (1 - a) * alpha
    return (colour / alpha.clamp_min(1e-6)).to(image.dtype)


def test_without_a_kernel_the_prior_and_the_model_are_unchanged(tiny_cfg):
    from train.model import build_model

    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    dmap = torch.rand(2, 1, 32, 32, generator=g).expand(-1, 3, -1, -1) * 0.3
    assert torch.equal(layered_blur(img, dmap), _layered_blur_before(img, dmap))
    plain = build_model(tiny_cfg("bokehnet_tiny.toml"))
    shaped = build_model(tiny_cfg("bokehnet_tiny_shape.toml"))
    assert (plain.n_conds, shaped.n_conds) == (2, 3)
    z, sigma = torch.randn(2, 3, 32, 32, generator=g), torch.full((2,), 0.9)
    v = plain.denoiser(z, [img, dmap], sigma)
    assert torch.isfinite(v).all() and v.shape == z.shape
    kimg = torch.from_numpy(rasterize(parse_shape("heart")))[None, None].expand(2, 3, -1, -1)
    kimg = torch.nn.functional.interpolate(kimg, (32, 32), mode="area")
    assert torch.isfinite(shaped.denoiser(z, [img, dmap, kimg], sigma)).all()


def test_the_kernel_reaches_pixels_far_from_its_square(tiny_cfg):
    """The UNet embeds the kernel (``kernel_grid`` -> FiLM of every block): a pixel farther from
    the kernel image's centred square than the network's receptive field still depends on the
    shape; the embedding starts at zero (the untrained model is the no-embedding one)."""
    from train.backbones.unet import KERNEL_GRID_PX, kernel_grid
    from train.data.build import kernel_image
    from train.model import build_model

    tri = kernel_image(rasterize(parse_shape("triangle")), 32, 160)[None]
    star = kernel_image(rasterize(parse_shape("star")), 32, 160)[None]
    assert kernel_grid(tri).shape == (1, KERNEL_GRID_PX**2)
    assert torch.equal(tri[..., :60], star[..., :60])  # zero left of the square (64..96)
    expect = torch.nn.functional.adaptive_avg_pool2d(tri[:, :1, :, 64:96], KERNEL_GRID_PX)
    assert torch.allclose(kernel_grid(tri), expect.flatten(1), atol=1e-6)
    unet = build_model(tiny_cfg("bokehnet_tiny_shape.toml")).denoiser.unet
    g = torch.Generator().manual_seed(0)
    conds = [torch.rand(1, 3, 32, 160, generator=g) * 2 - 1 for _ in range(3)]
    z, sigma = torch.randn(1, 3, 32, 160, generator=g), torch.full((1,), 0.5)
    for p in unet.parameters():  # a trained network's weights: nothing zero
        torch.nn.init.normal_(p, std=0.1)

    def corner(kernel):
        with torch.no_grad():
            return unet.correction(z, [*conds, kernel], sigma)[..., :8]

    with_embedding = float((corner(tri) - corner(star)).abs().max())
    unet.kernel_emb = None  # without it only GroupNorm's frame-wide statistics carry the shape
    without = float((corner(tri) - corner(star)).abs().max())
    assert with_embedding > 0.05 and with_embedding > 20 * without, (with_embedding, without)


# ---- training, checkpoints and refocus -------------------------------------------------------


@pytest.fixture(scope="module")
def runs(manifest, one_step_runs):
    return one_step_runs(manifest)


def test_a_training_step_runs_with_the_shape_condition(runs):
    run, metrics = runs["bokehnet_tiny_shape"]
    assert {"psnr", "lvcorr"} <= set(metrics) and metrics["step"] == 1
    assert (run / "checkpoints" / "LATEST").exists()


def test_a_checkpoint_without_the_condition_is_refused_in_one_line(runs, tiny_cfg):
    from train.checkpoint import CheckpointError, checkpoint_of, load_checkpoint
    from train.model import build_model

    for model_name, run_name in (
        ("bokehnet_tiny_shape.toml", "bokehnet_tiny"),
        ("bokehnet_tiny.toml", "bokehnet_tiny_shape"),
    ):
        built = build_model(tiny_cfg(model_name))
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(checkpoint_of(runs[run_name][0]), built)
        assert "\n" not in str(e.value) and "shape" in str(e.value), str(e.value)


def _refocus(runs, bokeh: str, tmp_path, *extra: str) -> tuple[int, str]:
    import contextlib
    import io

    from train.cli import main

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8)).save(
        tmp_path / "photo.png"
    )
    np.save(tmp_path / "d.npy", np.linspace(1, 3, 48 * 64, dtype=np.float32).reshape(48, 64))
    args = ["refocus", "--deblur", str(runs["deblurnet_tiny"][0]), "--bokeh", str(runs[bokeh][0])]
    args += ["--image", str(tmp_path / "photo.png"), "--focus", "0.5,0.5", "--k", "30"]
    args += ["--depth", str(tmp_path / "d.npy"), "--out", str(tmp_path / "o.png"), *extra]
    args.append("--beyond-training")  # about the aperture, not K
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, err.getvalue()


def test_refocus_with_a_triangle_aperture_writes_an_image(runs, tmp_path):
    rc, err = _refocus(runs, "bokehnet_tiny_shape", tmp_path, "--aperture", "triangle")
    assert rc == 0, err
    assert np.asarray(Image.open(tmp_path / "o.png")).shape == (48, 64, 3)
    rc, err = _refocus(runs, "bokehnet_tiny_shape", tmp_path)  # default: round
    assert rc == 0, err


def test_refocus_refuses_an_aperture_without_the_condition_or_a_bad_one(runs, tmp_path):
    rc, err = _refocus(runs, "bokehnet_tiny", tmp_path, "--aperture", "triangle")
    assert rc == 2 and "shape_condition" in err and len(err.strip().splitlines()) == 1
    rc, err = _refocus(runs, "bokehnet_tiny_shape", tmp_path, "--aperture", "blob")
    assert rc == 2 and "unknown aperture" in err and len(err.strip().splitlines()) == 1
    rc, err = _refocus(runs, "bokehnet_tiny_shape", tmp_path, "--aperture", "nope.png")
    assert rc == 2 and "nope.png" in err and len(err.strip().splitlines()) == 1


def test_the_benchmark_passes_each_renders_kernel(manifest, runs):
    from train.evaluate.methods import Model
    from train.evaluate.scenes import load_scenes
    from train.evaluate.sections import Scores, bokeh_section

    scenes = load_scenes([manifest], 16, max_scenes=2)
    shaped = scenes[1].renders[0]
    assert shaped["kernel"].shape == (1, 3, 64, 64)
    tri = rasterize(parse_shape(synthetic_rows(2, 1)[1]["aperture_shape_id"]))
    want = torch.nn.functional.interpolate(torch.from_numpy(tri)[None, None], (64, 64), mode="area")
    assert torch.allclose(shaped["kernel"][0, 0], want[0, 0], atol=1 / 255)
    scores = Scores()
    bokeh_section(Model(runs["bokehnet_tiny_shape"][0], "bokehnet", steps=1), scenes, scores)
    assert scores.summary()["bokehnet"]["psnr"] > 0


# ---- FLUX: a shape LoRA trained over a frozen base BokehNet LoRA (model.base_lora) -----------


def _tinyflux_bokeh(**more):
    """deblurnet_tinyflux.toml as a BokehNet, test-sized."""
    from train.config import load_train_config

    settings = {
        "network": "bokehnet",
        "compute_threads": 1,
        "optim.batch_size": 2,
        "eval.batches": 1,
        "eval.batch_size": 2,
        "eval.sample_steps": 1,
        "eval.lvcorr_images": 1,
        "eval.k_sweep": [0.0, 40.0],
    }
    return load_train_config("deblurnet_tinyflux.toml", {**settings, **more})


@pytest.fixture(scope="module")
def lora_runs(manifest, tmp_path_factory):
    """A tiny-FLUX BokehNet base run (LoRA r = 4), then a shape run over it (r = 2); the shape
    run's in-memory state after training is kept to compare with what loads back."""
    from unittest import mock

    from train.launch.local import train_local
    from train.state import TrainState

    root = tmp_path_factory.mktemp("lora")
    base_run, shape_run = root / "base", root / "shape"
    train_local(_tinyflux_bokeh(name="base"), [manifest], base_run, steps=2, show_progress=False)
    base_file = base_run / "checkpoints" / "step-000002" / "pytorch_lora_weights.safetensors"
    base_bytes = base_file.read_bytes()
    cfg = _tinyflux_bokeh(
        name="shape",
        **{
            "model.shape_condition": True,
            "model.base_lora": str(base_run),
            "model.lora_rank": 2,
        },
    )
    created = []
    create = TrainState.create.__func__

    def keep(cls, *a, **k):
        created.append(create(cls, *a, **k))
        return created[-1]

    with mock.patch.object(TrainState, "create", classmethod(keep)):
        train_local(cfg, [manifest], shape_run, steps=2, show_progress=False)
    return (
        {"base": base_run, "base_file": base_file, "base_bytes": base_bytes},
        shape_run,
        created[0],
    )


def _lora_params(built, adapter: str) -> dict[str, torch.Tensor]:
    return {
        n: p
        for n, p in built.lora_module.named_parameters()
        if ".lora_" in n and f".{adapter}." in n
    }


def test_the_shape_run_trains_only_the_shape_lora_over_the_frozen_base(lora_runs):
    from safetensors.torch import load_file

    base, shape_run, state = lora_runs
    built = state.built
    assert base["base_file"].read_bytes() == base["base_bytes"]  # the base file is untouched
    saved_base = load_file(str(base["base_file"]))
    frozen = _lora_params(built, "default")
    assert len(frozen) == len(saved_base) == 26
    for n, p in frozen.items():  # bit-identical to the base run's file after training
        key = "transformer." + n.replace(".default.", ".")
        assert torch.equal(p, saved_base[key]) and not p.requires_grad, n
    shape = _lora_params(built, "shape")
    assert all(p.requires_grad for p in shape.values())
    assert any("lora_B" in n and p.abs().max() > 0 for n, p in shape.items())  # from zero init
    in_optimiser = {id(p) for g in state.opt.param_groups for p in g["params"]}
    assert in_optimiser == {id(p) for p in shape.values()} == {id(p) for p in built.trainable}
    # the checkpoint: the shape adapter alone, in diffusers format, and the base's SHA-256
    ckpt = shape_run / "checkpoints" / "step-000002"
    saved = load_file(str(ckpt / "pytorch_lora_weights.safetensors"))
    assert set(saved) == {"transformer." + n.replace(".shape.", ".") for n in shape}
    assert all(
        torch.equal(saved["transformer." + n.replace(".shape.", ".")], p) for n, p in shape.items()
    )
    assert all(t.shape[0] == 2 for k, t in saved.items() if "lora_A" in k)  # r = 2, the base's 4
    record = json.loads((ckpt / "state.json").read_text())["base_lora"]
    assert record == {
        "path": str(base["base_file"].resolve()),
        "sha256": hashlib.sha256(base["base_bytes"]).hexdigest(),
    }


def test_both_loras_apply_to_condition_tokens_only(lora_runs):
    from train.backbones.flux import stack_adapters

    built = lora_runs[2].built
    g = torch.Generator().manual_seed(0)
    z, sigma = torch.randn(1, 48, 8, 8, generator=g), torch.tensor([0.5])
    conds = [torch.randn(1, 48, 8, 8, generator=g) for _ in range(3)]
    t = built.lora_module
    assert t.active_adapters() == ["default", "shape"]
    with torch.no_grad():
        both = built.denoiser(z, [], sigma)
        t.disable_adapters()
        alone = built.denoiser(z, [], sigma)
        plain = built.denoiser(z, conds, sigma)
        t.enable_adapters()
        with_both = built.denoiser(z, conds, sigma)
        t.set_adapter("default")
        with_base = built.denoiser(z, conds, sigma)
        t.set_adapter(["default", "shape"])  # peft marks both trainable again: the hazard
    assert any(p.requires_grad for n, p in t.named_parameters() if ".default." in n)
    stack_adapters(t, ["default", "shape"], trainable="shape")  # what build_model does
    assert [p for p in t.parameters() if p.requires_grad] == built.trainable
    assert torch.equal(both, alone)  # target tokens: the frozen FLUX weights
    assert not torch.equal(with_both, plain) and not torch.equal(with_both, with_base)


def test_refocus_and_benchmark_load_base_and_shape_as_trained(lora_runs):
    from train.evaluate.methods import Model
    from train.runs import load_run

    _, shape_run, state = lora_runs
    g = torch.Generator().manual_seed(1)
    z, sigma = torch.randn(2, 48, 8, 8, generator=g), torch.tensor([0.3, 0.8])
    conds = [torch.randn(2, 48, 8, 8, generator=g) for _ in range(3)]
    with torch.no_grad():
        want = state.built.denoiser(z, conds, sigma)
        _, built = load_run(shape_run)
        assert torch.equal(built.denoiser(z, conds, sigma), want)
        model = Model(shape_run, "bokehnet", steps=1)
        assert torch.equal(model.built.denoiser(z, conds, sigma), want)


def test_a_changed_or_missing_base_is_refused_in_one_line(lora_runs, tmp_path):
    from safetensors.torch import load_file, save_file

    from train.checkpoint import CheckpointError
    from train.evaluate.methods import Model
    from train.evaluate.scenes import BenchmarkError
    from train.runs import load_run

    base, shape_run, _ = lora_runs
    file = base["base_file"]
    sd = load_file(str(file))
    try:
        save_file({k: t * 1.5 for k, t in sd.items()}, str(file))  # same names and shapes
        with pytest.raises(CheckpointError) as e:
            load_run(shape_run)
        msg = str(e.value)
        assert "\n" not in msg and str(file.resolve()) in msg and "SHA-256" in msg, msg
        with pytest.raises(BenchmarkError) as e:
            Model(shape_run, "bokehnet")
        assert "\n" not in str(e.value) and "SHA-256" in str(e.value)
        file.rename(tmp_path / "away.safetensors")
        with pytest.raises(CheckpointError) as e:
            load_run(shape_run)
        assert "\n" not in str(e.value) and str(file.resolve()) in str(e.value), str(e.value)
    finally:
        file.write_bytes(base["base_bytes"])


def test_base_and_shape_files_load_in_diffusers(lora_runs):
    """Each saved LoRA loads on its own into a stock FluxTransformer2DModel (diffusers' loader)."""
    from diffusers import FluxPipeline

    from train.backbones.flux import tiny_flux

    base, shape_run, state = lora_runs
    shape_ckpt = shape_run / "checkpoints" / "step-000002"
    for name, folder, adapter in (
        ("base", base["base_file"].parent, "default"),
        ("shape", shape_ckpt, "shape"),
    ):
        sd = FluxPipeline.lora_state_dict(str(folder))
        sd = sd[0] if isinstance(sd, tuple) else sd
        t = tiny_flux(state.built.lora_module.config.in_channels)
        t.load_lora_adapter(sd, prefix="transformer", adapter_name=name)
        loaded = {n.replace(f".{name}.", "."): p for n, p in t.named_parameters() if "lora_" in n}
        ours = {
            n.replace(f".{adapter}.", "."): p for n, p in _lora_params(state.built, adapter).items()
        }
        assert set(loaded) == set(ours)
        assert all(torch.equal(loaded[n].float(), ours[n].float()) for n in ours), name


def test_base_lora_settings_are_checked_in_one_line(lora_runs, tmp_path):
    from train.checkpoint import CheckpointError
    from train.config import TrainConfigError, load_train_config
    from train.model import build_model

    base_run = str(lora_runs[0]["base"])
    for name, more in (
        ("bokehnet_tiny_shape.toml", {}),  # a UNet
        ("deblurnet_tinyflux.toml", {"network": "bokehnet"}),  # no shape_condition
    ):
        with pytest.raises(TrainConfigError) as e:
            load_train_config(name, {"model.base_lora": base_run, **more})
        assert "\n" not in str(e.value) and "model.base_lora" in str(e.value), str(e.value)
    for where in (tmp_path / "nope", lora_runs[1]):  # missing; a shape run is not a base
        cfg = _tinyflux_bokeh(**{"model.shape_condition": True, "model.base_lora": str(where)})
        with pytest.raises(CheckpointError) as e:
            build_model(cfg)
        assert "\n" not in str(e.value) and str(where) in str(e.value), str(e.value)


def test_ray_workers_get_the_base_lora_checked_and_absolute(lora_runs, tmp_path, monkeypatch):
    from infra.config_file import parse_override
    from train.checkpoint import CheckpointError
    from train.launch.ray import base_lora_override

    base_run = lora_runs[0]["base"]
    monkeypatch.chdir(base_run.parent)
    cfg = _tinyflux_bokeh(**{"model.shape_condition": True, "model.base_lora": base_run.name})
    (item,) = base_lora_override(cfg)
    assert parse_override(item) == ("model.base_lora", str(base_run.resolve()))
    assert base_lora_override(_tinyflux_bokeh()) == []
    cfg.model.base_lora = str(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="nope"):
        base_lora_override(cfg)


def test_release_shape_config_on_a_flux_folder_and_both_loras_load_in_flux_pipeline(
    manifest, tmp_path
):
    """bokehnet_flux.toml, then bokehnet_flux_shape.toml over it (bf16 base, VAE, gradient
    checkpointing) on a random-init FLUX.1-dev folder; the base LoRA still loads alone into a
    stock FluxPipeline after the shape run, and so does the shape LoRA."""
    from diffusers import FluxPipeline

    from train.backbones.random_flux import write_random_flux_folder
    from train.config import load_train_config
    from train.launch.local import train_local

    folder = write_random_flux_folder(tmp_path / "FLUX.1-dev", "tiny")
    sizes = {
        "model.path": str(folder),
        "data.cache_dir": str(tmp_path / "cache"),
        "data.resolution_px": 32,
        "compute_threads": 1,
        "optim.grad_accum": 1,
        "optim.warmup_steps": 1,
        "eval.batches": 1,
        "eval.batch_size": 1,
        "eval.sample_steps": 1,
        "eval.lvcorr_images": 1,
        "eval.k_sweep": [0.0, 40.0],
    }
    base = tmp_path / "base"
    train_local(
        load_train_config("bokehnet_flux.toml", sizes),
        [manifest],
        base,
        steps=1,
        show_progress=False,
    )
    shape_cfg = load_train_config(
        "bokehnet_flux_shape.toml", {**sizes, "model.base_lora": str(base)}
    )
    shape = tmp_path / "shape"
    m = train_local(shape_cfg, [manifest], shape, steps=1, show_progress=False)
    assert m["steps_run"] == 1 and m["psnr"] > 0
    pipe = FluxPipeline.from_pretrained(str(folder), local_files_only=True)
    for run, rank in ((base, 64), (shape, 32)):
        pipe.load_lora_weights(str(run / "checkpoints" / "step-000001"), adapter_name=run.name)
        ranks = {
            p.shape[0] for n, p in pipe.transformer.named_parameters() if f"lora_A.{run.name}." in n
        }
        assert ranks == {rank}, run.name
