"""``python -m train benchmark-real`` (train/evaluate/realsets): each real dataset's adapter on a
tiny fixture with its published layout that the test writes itself, the scores of identity, a
predictions folder and an untrained DeblurNet, LPIPS and DISTS from weight files written here
with random weights, and hostile inputs, each one ``error:`` line (docs/real-datasets.md)."""

import json
import math
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from train.evaluate.realsets.files import RealSetError, read_image

W, H = 32, 24


# --- writers ----------------------------------------------------------------------------------


def png16(path, arr: np.ndarray) -> None:
    """A 16-bit RGB PNG (Pillow writes none): ``arr`` uint16 H×W×3."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr))
        f.write(chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def save(path, arr: np.ndarray, **kw) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr, "RGB").save(path, **kw)


def texture(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """A textured image in [0, 1], H×W×3 float64."""
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.random((h, w, 3)), (0.7, 0.7, 0)).clip(0, 1)


def psnr01(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / float(np.mean((a - b) ** 2)))


def decoded(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def dpdd(tmp_path):
    """DPDD's layout, three 16-bit pairs; returns (root, {name: (source, target)} in [0, 1])."""
    root = tmp_path / "dd_dp_dataset_canon"
    rng = np.random.default_rng(7)
    truth = {}
    for i, name in enumerate(("1P0A0001.png", "1P0A0002.png", "1P0A0003.png")):
        tgt = np.round(texture(i) * 65535).astype(np.uint16)
        noise = rng.integers(-600, 601, tgt.shape)  # ~0.5 % of the range: 8 bits would lose it
        src = np.clip(tgt.astype(np.int64) + noise, 0, 65535).astype(np.uint16)
        png16(root / "test_c" / "source" / name, src)
        png16(root / "test_c" / "target" / name, tgt)
        png16(root / "test_l" / "source" / name, src)  # the dual-pixel views: not read
        png16(root / "test_r" / "source" / name, src)
        truth[name] = (src / 65535.0, tgt / 65535.0)
    return root, truth


@pytest.fixture(scope="module")
def deblur_run(tmp_path_factory):
    """An untrained deblurnet_tiny run (step 0, nothing trained): its residual head makes it
    the identity."""
    from train.config import load_train_config
    from train.state import TrainState

    cfg = load_train_config("deblurnet_tiny.toml")
    cfg.compute_threads = 1
    run = tmp_path_factory.mktemp("real_sets_run") / "deblur"
    TrainState.create(cfg, "cpu", 1).save(run, {}, 1)
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
    return run


def _features_state(net: str) -> dict:
    from torchvision.models import alexnet
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    feats = alexnet(weights=None).features if net == "alex" else make_layers(cfgs["D"])
    return {f"features.{k}": v for k, v in feats.state_dict().items()}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random-init LPIPS (AlexNet and VGG-16) and DISTS weight files, in the documented form."""
    from train.evaluate.realsets.perceptual import DISTS_CHANNELS, LPIPS_CHANNELS

    folder = tmp_path_factory.mktemp("real_sets_weights")
    gen = torch.Generator().manual_seed(1)
    out = {}
    for net in ("alex", "vgg"):
        sd = _features_state(net)
        for k, c in enumerate(LPIPS_CHANNELS[net]):
            sd[f"lin{k}.model.1.weight"] = torch.rand(1, c, 1, 1, generator=gen)
        out[f"lpips_{net}"] = folder / f"lpips_{net}.pth"
        torch.save(sd, out[f"lpips_{net}"])
    sd = _features_state("vgg")
    n = sum(DISTS_CHANNELS)
    sd["alpha"] = 0.1 + 0.01 * torch.randn(1, n, 1, 1, generator=gen)
    sd["beta"] = 0.1 + 0.01 * torch.randn(1, n, 1, 1, generator=gen)
    out["dists"] = folder / "dists.pth"
    torch.save(sd, out["dists"])
    return out


def cli(*args) -> int:
    from train.cli import main

    return main(["benchmark-real", *map(str, args)])


def one_error(capsys, *needles) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


# --- images -----------------------------------------------------------------------------------


def test_16_bit_png_read_at_full_precision(tmp_path):
    arr = np.arange(W * H * 3, dtype=np.uint16).reshape(H, W, 3) * 29 + 3
    png16(tmp_path / "a.png", arr)
    img = read_image(str(tmp_path / "a.png"), "a.png")
    assert img.dtype == np.float32 and img.shape == (H, W, 3)
    np.testing.assert_allclose(img, arr / 65535.0, atol=1e-7)
    assert np.abs(img - (arr >> 8) / 255.0).max() > 1e-3  # Pillow's 8-bit reading would differ
    save(tmp_path / "b.png", (arr >> 8).astype(np.uint8))
    eight = read_image(str(tmp_path / "b.png"), "b")
    np.testing.assert_allclose(eight, (arr >> 8) / 255.0, atol=1e-7)


def test_hostile_image_files(tmp_path):
    (tmp_path / "t.png").write_bytes(b"not an image at all")
    Image.new("L", (4, 4)).save(tmp_path / "grey.png")
    save(tmp_path / "cut.png", np.zeros((H, W, 3), np.uint8))
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-8])
    cases = {"t.png": "not a readable image", "grey.png": "mode L", "cut.png": "IEND"}
    for name, needle in cases.items():
        with pytest.raises(RealSetError) as e:
            read_image(str(tmp_path / name), name)
        assert str(e.value).startswith(f"{name}: ") and needle in str(e.value)
        assert "\n" not in str(e.value)


# --- DPDD, RealDOF ----------------------------------------------------------------------------


def test_dpdd_identity_predictions_and_deblurnet(dpdd, deblur_run, tmp_path, capsys):
    root, truth = dpdd
    preds = tmp_path / "preds"
    rng = np.random.default_rng(3)
    want_pred = []
    for name, (_, tgt) in truth.items():
        pred = np.clip(np.round(tgt * 255) + rng.integers(-1, 2, tgt.shape), 0, 255)
        save(preds / name, pred.astype(np.uint8))  # an 8-bit PNG scored against 16-bit truth
        want_pred.append(psnr01(pred / 255.0, tgt))
    (preds / "README.md").write_text("ignored")
    out = tmp_path / "out"
    assert cli("--dataset", "dpdd", "--root", root, "--out", out, "--predictions", preds,
               "--deblur", deblur_run) == 0  # fmt: skip
    r = json.loads((out / "real_benchmark.json").read_text())
    want_id = np.mean([psnr01(s, t) for s, t in truth.values()])
    fid = r["fidelity"]
    assert fid["identity (blurry input)"]["images"] == 3
    assert fid["identity (blurry input)"]["psnr"] == pytest.approx(want_id, abs=1e-3)
    assert fid["predictions"]["psnr"] == pytest.approx(np.mean(want_pred), abs=1e-3)
    assert fid["predictions"]["psnr"] > fid["identity (blurry input)"]["psnr"] + 3
    # the untrained residual DeblurNet returns its input
    assert fid["deblurnet"]["psnr"] == pytest.approx(want_id, abs=1e-2)
    assert r["working_size"].startswith("sides rounded to a multiple of 4 px")
    md = (out / "real_benchmark.md").read_text()
    assert "| identity (blurry input) | 3 |" in md and "nan" not in md.lower()
    assert "DPDD" in capsys.readouterr().out


def test_dpdd_max_side_and_max_items(dpdd, tmp_path):
    from train.evaluate.realsets.run import run_real_benchmark

    root, truth = dpdd
    r = run_real_benchmark("dpdd", root, tmp_path / "o", max_items=2, max_side=16)
    row = r["fidelity"]["identity (blurry input)"]
    assert (r["items"], r["scored"], row["images"]) == (3, 2, 2)
    assert "long side at most 16 px" in r["working_size"]
    assert math.isfinite(row["psnr"]) and row["psnr"] > psnr01(*truth["1P0A0001.png"])  # smoothed


def test_realdof_layout(tmp_path):
    from train.evaluate.realsets.run import run_real_benchmark

    root = tmp_path / "RealDOF"
    want = []
    for i in range(2):
        tgt = (texture(10 + i) * 255).round().astype(np.uint8)
        src = (gaussian_filter(tgt.astype(float), (1, 1, 0))).round().astype(np.uint8)
        save(root / "source" / f"{i:04d}.png", src)
        save(root / "target" / f"{i:04d}.png", tgt)
        want.append(psnr01(src / 255.0, tgt / 255.0))
    r = run_real_benchmark("realdof", root, tmp_path / "o")
    assert r["fidelity"]["identity (blurry input)"]["psnr"] == pytest.approx(
        np.mean(want), abs=1e-3
    )


def _breakers(root):
    """Each hostile change to a DPDD fixture, with what its error line must name."""
    src, tgt = root / "test_c" / "source", root / "test_c" / "target"
    outside = root.parent / "outside.png"

    def missing_target():
        (tgt / "1P0A0002.png").unlink()

    def extra_file():
        (src / "notes.txt").write_text("x")

    def wrong_size():
        png16(src / "1P0A0001.png", np.zeros((H, W - 2, 3), np.uint16))

    def not_an_image():
        (src / "1P0A0003.png").write_bytes(b"\x89PNG garbage")

    def link_out():
        shutil.copy(src / "1P0A0003.png", outside)
        (src / "1P0A0003.png").unlink()
        (src / "1P0A0003.png").symlink_to(outside)

    def empty():
        shutil.rmtree(src)
        src.mkdir()

    def no_folder():
        shutil.rmtree(tgt)

    return {
        missing_target: ("source/1P0A0002.png", "unpaired"),
        extra_file: ("notes.txt", "not an image file"),
        wrong_size: ("1P0A0001.png", "the same size"),
        not_an_image: ("1P0A0003.png", "not a readable image"),
        link_out: ("1P0A0003.png", "outside the dataset root"),
        empty: ("test_c/source", "no images"),
        no_folder: ("test_c/target", "missing"),
    }


def test_hostile_dataset_is_one_line(dpdd, tmp_path, capsys):
    root, _ = dpdd
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine, symlinks=True)
    for k, (breaker, needles) in enumerate(_breakers(root).items()):
        shutil.rmtree(root)
        shutil.copytree(pristine, root, symlinks=True)
        breaker()
        assert cli("--dataset", "dpdd", "--root", root, "--out", tmp_path / f"o{k}") == 2
        one_error(capsys, *needles)
        assert not (tmp_path / f"o{k}").exists()


def test_hostile_predictions_are_one_line(dpdd, tmp_path, capsys):
    root, truth = dpdd
    preds = tmp_path / "preds"
    for name, (_, tgt) in truth.items():
        save(preds / name, (tgt * 255).round().astype(np.uint8))
    base = ("--dataset", "dpdd", "--root", root, "--out", tmp_path / "o", "--predictions", preds)
    (preds / "1P0A0009.png").write_bytes(b"x")
    assert cli(*base) == 2
    one_error(capsys, "1P0A0009.png", "not an expected prediction")
    (preds / "1P0A0009.png").unlink()
    save(preds / "1P0A0002.png", np.zeros((H - 1, W, 3), np.uint8))
    assert cli(*base) == 2
    one_error(capsys, "1P0A0002.png", f"expected {W}x{H} px")
    (preds / "1P0A0002.png").unlink()
    assert cli(*base) == 2
    one_error(capsys, "1P0A0002.png", "missing (1 of 3")
    assert cli(*base, "--max-items", "1") == 0  # only the first pair's file is required
    capsys.readouterr()
    outside = tmp_path / "elsewhere.png"
    save(outside, np.zeros((H, W, 3), np.uint8))
    (preds / "1P0A0002.png").symlink_to(outside)
    assert cli(*base) == 2
    one_error(capsys, "1P0A0002.png", "a link resolving outside the predictions folder")


def test_options_are_range_checked(dpdd, tmp_path, capsys):
    root, _ = dpdd
    base = ("--dataset", "dpdd", "--root", root, "--out", tmp_path / "o")
    for flag, value in (("--max-side", "-1"), ("--max-items", "1e3"), ("--max-side", "70000")):
        with pytest.raises(SystemExit) as e:
            cli(*base, flag, value)
        assert e.value.code == 2 and f"argument {flag}: must be" in capsys.readouterr().err
    assert cli("--dataset", "realbokeh", "--root", root, "--out", tmp_path / "o",
               "--deblur", "run") == 2  # fmt: skip
    one_error(capsys, "--predictions DIR")
    assert cli("--dataset", "dpdd", "--root", tmp_path / "nowhere", "--out", tmp_path / "o") == 2
    one_error(capsys, "nowhere", "does not exist")
    assert cli(*base, "--deblur", tmp_path / "norun") == 2
    one_error(capsys, "norun", "not a run folder")


# --- RealBokeh --------------------------------------------------------------------------------

BW, BH = 64, 48  # the regions need room: a background of a few hundred interior pixels
SWEEP = (22.0, 11.0, 5.6, 4.0, 2.0)  # f/22 is the input; K ∝ 1/N


def bokeh_frame(base: np.ndarray, f_number: float) -> np.ndarray:
    """The left half in focus, the right half blurred by a σ growing with the aperture."""
    sigma = 0.35 * (22.0 / f_number - 1.0)
    out = base.copy()
    if sigma > 0:
        out[:, BW // 2 :] = gaussian_filter(base, (sigma, sigma, 0))[:, BW // 2 :]
    return out


@pytest.fixture
def realbokeh(tmp_path):
    """RealBokeh_3MP's layout: test/metadata, test/in, test/gt; scene 1 a five-photo sweep,
    scene 2 three photos (too few for controllability)."""
    split = tmp_path / "RealBokeh_3MP" / "test"
    frames = {}
    for scene, numbers in (("1", SWEEP), ("2", (22.0, 8.0, 2.0))):
        base = texture(int(scene), BW, BH)
        meta = {"id": int(scene), "source_image": f"in/{scene}_f22.JPG", "source_av": 22.0,
                "target_images": [], "target_avs": [], "focal_length": 50, "ISO": 100,
                "focus_plane_distance": 0.9}  # fmt: skip
        for n in numbers:
            rel = meta["source_image"] if n == 22 else f"gt/{scene}/{scene}_f{n:g}.JPG"
            if n != 22:
                rel = rel.replace(f"f{n:g}.", f"f{n:.1f}." if n < 10 else f"f{n:g}.")
                meta["target_images"].append(rel)
                meta["target_avs"].append(n)
            save(split / rel, (bokeh_frame(base, n) * 255).round().astype(np.uint8), quality=95)
            frames[rel] = decoded(split / rel)
        (split / "metadata").mkdir(parents=True, exist_ok=True)
        (split / "metadata" / f"{scene}.json").write_text(json.dumps(meta))
    return tmp_path / "RealBokeh_3MP", frames


def write_bokeh_predictions(folder, frames, transform=lambda rel, img: img):
    for rel, img in frames.items():
        if rel.startswith("gt/"):
            out = transform(rel, img)
            save(folder / rel.replace(".JPG", ".png"), (out * 255).round().astype(np.uint8))


def test_realbokeh_layout_and_control(realbokeh, tmp_path):
    from train.evaluate.realsets.realbokeh import list_sweeps
    from train.evaluate.realsets.run import run_real_benchmark

    root, frames = realbokeh
    sweeps = list_sweeps(str(root))  # the dataset folder: its test split is read
    assert [s.scene for s in sweeps] == ["1", "2"]
    assert [f.f_number for f in sweeps[0].frames] == list(SWEEP)
    assert sweeps[0].k_values() == pytest.approx([1.0, 2.0, 22 / 5.6, 5.5, 11.0])
    preds = tmp_path / "exact"
    write_bokeh_predictions(preds, frames)  # the real photos themselves
    r = run_real_benchmark("realbokeh", root, tmp_path / "o", predictions=preds)
    c = r["control"]
    assert (c["scenes_scored"], c["scenes_too_short"]) == (1, 1)
    truth, ident, pred = (c["control"][k] for k in ("real sweep", "identity (f/22 input)",
                                                      "predictions"))  # fmt: skip
    # the whole frame's LV has the sharp half as its floor: it need not fall at every step
    assert truth["spearman_background"] == 1.0 and truth["spearman_whole"] > 0.5
    assert truth["focus_kept"] == pytest.approx(1.0, abs=0.05)  # the left half stays sharp
    assert ident["spearman_background"] == 0.0 and ident["truth_correlation"] == 0.0
    assert pred["truth_correlation"] == pytest.approx(1.0)
    assert pred["dynamic_range_ratio"] == pytest.approx(1.0)
    fid = r["fidelity"]
    assert fid["identity (f/22 input)"]["images"] == 4 + 2
    want = np.mean([psnr01(frames["in/1_f22.JPG"], frames[k]) for k in frames
                    if k.startswith("gt/1/")] + [psnr01(frames["in/2_f22.JPG"], frames[k])
                    for k in frames if k.startswith("gt/2/")])  # fmt: skip
    assert fid["identity (f/22 input)"]["psnr"] == pytest.approx(want, abs=1e-3)
    assert fid["predictions"]["psnr"] == math.inf  # exact copies
    md = (tmp_path / "o" / "real_benchmark.md").read_text()
    assert "Controllability against the real sweep" in md and "nan" not in md.lower()


def test_realbokeh_reversed_predictions_score_below_the_truth(realbokeh, tmp_path):
    from train.evaluate.realsets.run import run_real_benchmark

    root, frames = realbokeh
    order = {n: SWEEP[len(SWEEP) - i] for i, n in enumerate(SWEEP) if i}  # f/16 <-> f/2 ...

    def reverse(rel, img):
        n = float(rel.rsplit("_f", 1)[1].removesuffix(".JPG"))
        scene = rel.split("/")[1]
        return bokeh_frame(texture(int(scene), BW, BH), order.get(n, n))

    preds = tmp_path / "reversed"
    write_bokeh_predictions(preds, frames, reverse)
    r = run_real_benchmark("realbokeh", root / "test", tmp_path / "o", predictions=preds)
    pred = r["control"]["control"]["predictions"]
    # after the shared f/22 input, the background sharpens as the aperture opens
    assert pred["spearman_background"] <= 0 and pred["truth_correlation"] < -0.2
    assert pred["dynamic_range_ratio"] < 0.01


def test_hostile_realbokeh_is_one_line(realbokeh, tmp_path, capsys):
    root, _ = realbokeh
    split = root / "test"
    base = ("--dataset", "realbokeh", "--root", root, "--out", tmp_path / "o")
    meta = split / "metadata" / "2.json"
    good = meta.read_text()
    (split / "gt" / "2" / "2_f5.6.JPG").write_bytes(b"x")
    assert cli(*base) == 2
    one_error(capsys, "gt/2/2_f5.6.JPG", "not named by any metadata")
    (split / "gt" / "2" / "2_f5.6.JPG").unlink()
    for text, needle in (
        (good.replace('"gt/2/2_f2.0.JPG"', '"../../escape.JPG"'), "escapes the split folder"),
        (good.replace("2.0]", "8.0]"), "two photos at f/8"),
        (good.replace("2.0]", "NaN]"), "not a readable metadata JSON"),
        ("[1, 2]", "not a metadata JSON object"),
    ):
        meta.write_text(text)
        assert cli(*base) == 2
        one_error(capsys, "metadata/2.json", needle)
    meta.write_text(good)
    shutil.rmtree(split / "metadata")
    assert cli(*base) == 2
    one_error(capsys, "metadata", "missing")


# --- focal stacks -----------------------------------------------------------------------------

SCENES = ("FSK_20241026073527GMT-04:00", "FSK_20241026083022GMT-04:00")


@pytest.fixture
def stacks(tmp_path):
    """Learn2Refocus' midsize_undistorted layout: two scenes, three focal positions each."""
    root = tmp_path / "midsize_undistorted"
    slices = {}
    for s, scene in enumerate(SCENES):
        base = texture(20 + s)
        for p in range(3):
            img = base.copy()
            third = slice(p * W // 3, (p + 1) * W // 3)  # in focus: one third of the width
            blurred = gaussian_filter(base, (1.2, 1.2, 0))
            img[:, :] = blurred
            img[:, third] = base[:, third]
            path = (
                root
                / scene
                / "midsize/undistorted/RigCenter"
                / f"focal_position_{p:04d}_frame_0000.jpg"
            )
            save(path, (img * 255).round().astype(np.uint8), quality=95)
            slices[(scene, p)] = decoded(path)
    return root, slices


def test_focal_stacks_identity_and_predictions(stacks, tmp_path, capsys):
    root, slices = stacks
    preds = tmp_path / "preds"
    rng = np.random.default_rng(5)
    want_id, want_pred = [], []
    for scene in SCENES:
        for i in range(3):
            for j in range(3):
                if i != j:
                    tgt = slices[(scene, j)]
                    pred = np.clip(np.round(tgt * 255) + rng.integers(-2, 3, tgt.shape), 0, 255)
                    save(preds / scene / f"from_{i:04d}" / f"focal_position_{j:04d}.png",
                         pred.astype(np.uint8))  # fmt: skip
                    want_pred.append(psnr01(pred / 255.0, tgt))
                    want_id.append(psnr01(slices[(scene, i)], tgt))
    out = tmp_path / "o"
    assert cli("--dataset", "focalstack", "--root", root, "--out", out,
               "--predictions", preds) == 0  # fmt: skip
    capsys.readouterr()
    r = json.loads((out / "real_benchmark.json").read_text())
    fid = r["fidelity"]
    assert fid["identity (input slice)"]["images"] == 12
    assert fid["identity (input slice)"]["psnr"] == pytest.approx(np.mean(want_id), abs=1e-3)
    assert fid["predictions"]["psnr"] == pytest.approx(np.mean(want_pred), abs=1e-3)
    assert set(r["by_distance"]["predictions"]) == {"1", "2"}


def test_hostile_focal_stacks_are_one_line(stacks, tmp_path, capsys):
    root, _ = stacks
    rig = root / SCENES[0] / "midsize/undistorted/RigCenter"
    base = ("--dataset", "focalstack", "--root", root, "--out", tmp_path / "o")
    (rig / "focal_position_0001_frame_0001.jpg").write_bytes(b"x")
    assert cli(*base) == 2
    one_error(capsys, "focal_position_0001_frame_0001.jpg", "a second frame at focal position 1")
    (rig / "focal_position_0001_frame_0001.jpg").unlink()
    (root / SCENES[0] / "notes.txt").write_text("x")
    assert cli(*base) == 2
    one_error(capsys, "notes.txt", "not part of the Learn2Refocus layout")
    (root / SCENES[0] / "notes.txt").unlink()
    save(rig / "focal_position_0002_frame_0000.jpg", np.zeros((H, W + 4, 3), np.uint8))
    assert cli(*base) == 2
    one_error(capsys, "focal_position_0002_frame_0000.jpg", "the same size")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("--dataset", "focalstack", "--root", empty, "--out", tmp_path / "o") == 2
    one_error(capsys, "empty", "no images")


# --- LPIPS, DISTS -----------------------------------------------------------------------------


def test_perceptual_metrics_basic_properties(weights):
    from train.evaluate.realsets.perceptual import DISTS, LPIPS
    from train.threads import using_threads

    a = torch.from_numpy(texture(30, 64, 48)).permute(2, 0, 1)[None].float() * 2 - 1
    b = torch.from_numpy(texture(31, 64, 48)).permute(2, 0, 1)[None].float() * 2 - 1
    small = (..., slice(0, H), slice(0, W))  # VGG-16 costs ~1 GFLOP at 64x48: 32x24 here
    cases = (
        (LPIPS(weights["lpips_alex"]), a, b),
        (LPIPS(weights["lpips_vgg"]), a[small], b[small]),
        (DISTS(weights["dists"]), a[small], b[small]),
    )
    with using_threads(1):  # two threads on two busy cores: 20x slower here
        check_metrics(cases)
    with pytest.raises(RealSetError, match="at least 31 px a side, got 32x24"):
        LPIPS(weights["lpips_alex"])(a[small], b[small])


def check_metrics(cases) -> None:
    """Zero for identical images, positive and symmetric otherwise, smaller when nearer."""
    for metric, x, y in cases:
        same, xy, yx = float(metric(x, x)[0]), float(metric(x, y)[0]), float(metric(y, x)[0])
        assert abs(same) < 1e-6, metric.label
        assert xy > 1e-4 and xy == pytest.approx(yx, rel=1e-4), metric.label
        near = float(metric(x, (x + 0.02 * (y - x)))[0])
        assert 0 < near < xy, metric.label


def test_bad_weight_files_are_one_line(weights, tmp_path):
    from train.evaluate.realsets.perceptual import DISTS, LPIPS

    (tmp_path / "corrupt.pth").write_bytes(b"PK\x03\x04 not a checkpoint")
    torch.save(_features_state("alex"), tmp_path / "no_lin.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5)}, tmp_path / "odd.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    cases = (
        (LPIPS, "corrupt.pth", "not a readable weights file"),
        (LPIPS, "no_lin.pth", "no key 'lin0.model.1.weight'"),
        (LPIPS, "odd.pth", "no AlexNet or VGG-16"),
        (LPIPS, "list.pth", "not a state dict"),
        (
            DISTS,
            "no_lin.pth",
            "features.0.weight is (64, 3, 11, 11), expected finite (64, 3, 3, 3)",
        ),
        (DISTS, "missing.pth", "does not exist"),
    )
    for metric, name, needle in cases:
        with pytest.raises(RealSetError) as e:
            metric(str(tmp_path / name))
        assert needle in str(e.value) and "\n" not in str(e.value), (name, str(e.value))


def test_cli_with_lpips_and_dists(dpdd, weights, tmp_path, capsys):
    root, _ = dpdd
    out = tmp_path / "o"
    assert cli("--dataset", "dpdd", "--root", root, "--out", out, "--lpips-weights",
               weights["lpips_vgg"], "--dists-weights", weights["dists"]) == 0  # fmt: skip
    capsys.readouterr()
    r = json.loads((out / "real_benchmark.json").read_text())
    row = r["fidelity"]["identity (blurry input)"]
    assert row["lpips"] > 0 and row["dists"] > 0 and row["lpips_worst"] >= row["lpips"]
    assert r["perceptual"]["lpips"].startswith("LPIPS (vgg")
    assert "| LPIPS | worst | DISTS | worst |" in (out / "real_benchmark.md").read_text()
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert cli("--dataset", "dpdd", "--root", root, "--out", out, "--dists-weights", bad) == 2
    one_error(capsys, "bad.pth", "not a readable weights file")
