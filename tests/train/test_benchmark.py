"""The refocus benchmark: its metrics on constructed images, the CLI end to end on a rendered
held-out set with tiny runs, and one-line errors for bad input."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from train.evaluate.metrics import band_medians, band_sharpness, depth_bands, focus_follows
from train.evaluate.targets import (
    BAND_TARGETS,
    CALIBRATION,
    CONTROL_TARGETS,
    TARGETS,
    check_targets,
    mean_results,
)


def _texture(h=48, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g, dtype=torch.float64) * 2 - 1


def _box_blur(x, r):
    k = torch.ones(3, 1, 2 * r + 1, 2 * r + 1, dtype=x.dtype) / (2 * r + 1) ** 2
    return torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (r,) * 4, mode="reflect"), k, groups=3
    )


def test_band_sharpness_is_one_where_untouched_and_falls_with_blur():
    aif = _texture()
    bands = np.repeat(np.arange(4), 12)[None, :].repeat(48, 0)  # four vertical bands
    out = aif.clone()
    out[..., 12:24] = _box_blur(aif, 1)[..., 12:24]
    out[..., 24:] = _box_blur(aif, 3)[..., 24:]
    s = band_sharpness(out, aif, bands, 4)
    assert s[0] == pytest.approx(1.0) and 1.0 > s[1] > max(s[2], s[3]) > 0


def test_focus_follows_the_sharpest_band_strictly():
    aif = _texture()
    disp = np.tile(np.linspace(0.1, 2.0, 48), (48, 1))  # disparity grows left to right
    near = aif.clone()
    near[..., :36] = _box_blur(aif, 2)[..., :36]  # only the nearest quarter sharp
    assert focus_follows(near, aif, disp, disp_focus=1.9)
    assert not focus_follows(near, aif, disp, disp_focus=0.2)
    assert not focus_follows(aif, aif, disp, disp_focus=1.9)  # blurred nowhere: follows nothing
    with pytest.raises(ValueError, match="shapes differ"):
        focus_follows(near[..., :40], aif, disp, 1.0)


def test_band_medians_sit_where_the_bands_content_is():
    disp = np.full((20, 20), 0.1)
    disp[:, 10:] = 1.0  # a backdrop at 10 m and a plane at 1 m, nothing between
    med = band_medians(disp)
    _, centres = depth_bands(disp)
    assert med[0] == pytest.approx(0.1) and med[3] == pytest.approx(1.0)
    assert np.isnan(med[1]) and np.isnan(med[2])
    assert centres[0] == pytest.approx(0.2125)  # the nominal centre: no content there


@pytest.fixture(scope="module")
def runs(synth_manifest, tmp_path_factory):
    from train.config import load_train_config
    from train.launch.local import train_local

    root = tmp_path_factory.mktemp("bench_runs")
    for name, toml in (("deblur", "deblurnet_tiny.toml"), ("bokeh", "bokehnet_tiny.toml")):
        cfg = load_train_config(
            toml,
            [
                "eval.batches=1",
                "eval.sample_steps=1",
                "eval.lvcorr_images=1",
                "checkpoint.every=1000",
            ],
        )
        train_local(cfg, [synth_manifest], root / name, steps=2, show_progress=False)
    return root


def _bench_argv(deblur, bokeh, manifest, out, scenes: int) -> list[str]:
    """``python -m train benchmark`` arguments: one sampling step, the first ``scenes``."""
    return [
        "benchmark", "--deblur", str(deblur), "--bokeh", str(bokeh), "--manifest", manifest,
        "--out", str(out), "--max-scenes", str(scenes), "--steps", "1",
    ]  # fmt: skip


def test_benchmark_cli_writes_every_section(runs, synth_manifest, tmp_path, capsys):
    from train.cli import main

    out = tmp_path / "bench"
    argv = _bench_argv(runs / "deblur", runs / "bokeh", synth_manifest, out, scenes=2)
    assert main(argv) == 0

    def strict(token):  # NaN / Infinity tokens are not JSON: strict readers refuse the file
        raise AssertionError(f"benchmark.json holds {token}")

    r = json.loads((out / "benchmark.json").read_text(), parse_constant=strict)
    assert set(r["deblur"]) == {"deblurnet", "identity (blurry input)"}
    assert set(r["bokeh"]) == {"bokehnet", "reference", "aif"}
    assert set(r["refocus"]) == {
        "deblurnet + bokehnet",
        "deblurnet + reference",
        "identity (input render)",
    }
    assert r["deblur"]["deblurnet"]["images"] == 6  # 2 scenes x 3 renders
    assert r["refocus"]["deblurnet + bokehnet"]["images"] == 12  # ordered pairs of renders
    # the reference renders: it beats the sharp AIF against Cycles' DoF renders
    assert r["bokeh"]["reference"]["psnr"] > r["bokeh"]["aif"]["psnr"]
    assert set(r["lvcorr"]) == set(r["focus_follows"]) == {"bokehnet", "reference"}
    assert [t["target"] for t in r["targets"]] == [t[0] for t in TARGETS + BAND_TARGETS]
    assert r["bokeh"]["reference"]["psnr_band"] < r["bokeh"]["reference"]["psnr"]  # edges: hard
    for f in ("benchmark.md", "benchmark_grid.png", "k_sweep.png"):
        assert (out / f).stat().st_size > 0
    assert "| bokeh | reference |" in capsys.readouterr().out


def test_deblur_section_alone_gives_the_benchmarks_deblur_numbers(runs, synth_manifest):
    from train.evaluate.benchmark import run_benchmark
    from train.evaluate.methods import Model
    from train.evaluate.scenes import load_scenes
    from train.evaluate.sections import deblur_section

    deblur, bokeh = Model(runs / "deblur", "deblurnet", 1), Model(runs / "bokeh", "bokehnet", 1)
    gran = max(deblur.cfg.granularity_px, bokeh.cfg.granularity_px)
    scenes = load_scenes([synth_manifest], gran, 2)
    alone = deblur_section(deblur, scenes)
    full = run_benchmark(deblur, bokeh, scenes, 20.0)["results"]
    assert alone == {k: full[k] for k in ("deblur", "deblur_sharp")}
    assert alone["deblur"]["identity (blurry input)"]["images"] == 6


def _row(p, s=0.7):
    return {"psnr": p, "psnr_worst": p - 5, "ssim": s, "ssim_worst": s / 2, "images": 4}


def _results(**over):
    row = _row
    r = {
        "deblur": {"deblurnet": row(21.0, 0.65), "identity (blurry input)": row(19.5, 0.64)},
        "deblur_sharp": {"deblurnet": row(40.0)},
        "bokeh": {"bokehnet": row(22.2), "reference": row(21.5), "aif": row(19.0)},
        "refocus": {
            "deblurnet + bokehnet": row(21.5),
            "deblurnet + reference": row(21.0),
            "identity (input render)": row(20.5),
        },
        "lvcorr": {"bokehnet": 0.92, "reference": 0.6},
        "focus_follows": {"bokehnet": 0.9, "reference": 0.94},
        "artifacts": {"k": [0.0, 80.0], "bokehnet": [0.0, 0.0004]},
        "setup": {"scenes": 8},
    }
    for path, v in over.items():
        *keys, last = path.split("/")
        node = r
        for k in keys:
            node = node[k]
        node[last] = v
    return r


def test_targets_are_checked_on_each_number_and_on_means_over_seeds():
    assert all(t["ok"] for t in check_targets(_results()))
    failed = {
        "deblur_sharp/deblurnet/psnr_worst": 29.9,
        "deblur/deblurnet/ssim": 0.63,
        "focus_follows/bokehnet": 0.875,
        "bokeh/bokehnet/psnr": 19.0,  # = the AIF, and 2.5 dB under the reference
        "refocus/deblurnet + bokehnet/psnr": 20.5,
        "lvcorr/bokehnet": 0.5,
        "artifacts/bokehnet": [0.0, 0.002],  # specks on 0.2 % of the pixels at the largest K
    }
    for path, value in failed.items():
        bad = [t["target"] for t in check_targets(_results(**{path: value})) if not t["ok"]]
        assert bad, path
    assert (
        len([t for t in check_targets(_results(**{"bokeh/bokehnet/psnr": 19.0})) if not t["ok"]])
        == 2
    )
    mean = mean_results([_results(), _results(**{"lvcorr/bokehnet": 0.5})])
    assert mean["lvcorr"]["bokehnet"] == pytest.approx(0.71)
    assert mean["deblur"]["deblurnet"]["psnr"] == 21.0 and mean["setup"] == {"scenes": 8}
    more = _results(**{"artifacts/bokehnet": [0.0, 0.0008]})
    assert mean_results([_results(), more])["artifacts"]["bokehnet"] == pytest.approx([0, 0.0006])


def _control(bokehnet=(0.99, 0.98, 1.05), reference=(1.0, 0.995, 0.97)):
    """A control section: (Spearman background, truth correlation, dynamic-range ratio)."""

    def row(v):
        keys = ("spearman_background", "truth_correlation", "dynamic_range_ratio")
        return {**dict(zip(keys, v, strict=True)), "artifacts": 0.0002}

    return {
        "methods": {
            "cycles (truth)": row((1.0, 1.0, 1.0)),
            "reference": row(reference),
            "bokehnet": row(bokehnet),
        }
    }


def test_control_and_calibration_targets_apply_where_the_set_has_sweeps():
    names = [t["target"] for t in check_targets({**_results(), "control": _control()})]
    assert names == [t[0] for t in TARGETS + CONTROL_TARGETS + CALIBRATION]
    assert all(t["ok"] for t in check_targets({**_results(), "control": _control()}))
    weak = check_targets({**_results(), "control": _control(bokehnet=(0.99, 0.98, 0.12))})
    assert [t["target"] for t in weak if not t["ok"]] == ["BokehNet dynamic range >= 0.8 x Cycles'"]
    strong = check_targets({**_results(), "control": _control(bokehnet=(0.99, 0.98, 1.3))})
    assert [t["target"] for t in strong if not t["ok"]] == [
        "BokehNet dynamic range <= 1.2 x Cycles'"
    ]
    off = check_targets({**_results(), "control": _control(reference=(0.9, 0.995, 1.2))})
    assert {t["target"] for t in off if not t["ok"]} == {
        "calibration: reference Spearman (background) >= 0.99",
        "calibration: reference dynamic range within 10 % of Cycles'",
    }


def test_bad_input_is_one_line(runs, synth_manifest, tmp_path, capsys):
    from train.cli import main

    base = ["benchmark", "--out", str(tmp_path / "b"), "--max-scenes", "1", "--steps", "1"]
    wrong = [
        *base,
        "--deblur",
        str(runs / "bokeh"),
        "--bokeh",
        str(runs / "bokeh"),
        "--manifest",
        synth_manifest,
    ]
    assert main(wrong) == 2
    assert "a bokehnet run, expected a deblurnet run" in capsys.readouterr().err
    ok = [*base[:-4], "--deblur", str(runs / "deblur"), "--bokeh", str(runs / "bokeh")]
    with pytest.raises(SystemExit) as e:  # range-checked by argparse
        main([*ok, "--manifest", synth_manifest, "--max-scenes", "-1"])
    assert e.value.code == 2
    assert "argument --max-scenes: must be in [0, 10000000], got '-1'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    runs_ok = ["--deblur", str(runs / "deblur"), "--bokeh", str(runs / "bokeh")]
    assert main([*base, *runs_ok, "--manifest", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "synthetic_pairs" in err and err.count("\n") == 1
    bad = tmp_path / "bad"
    shutil.copytree(synth_manifest, bad)
    dof = sorted(bad.rglob("dof_00.png"))[0]  # scene 0, the first one benchmarked
    Image.new("RGB", (20, 10)).save(dof)
    assert main([*base, *runs_ok, "--manifest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "dof_00.png" in err and "vs the AIF" in err and err.count("\n") == 1


def test_the_same_benchmark_runs_the_flux_configs(synth_manifest, tmp_path):
    """The random-init tiny FLUX (the FLUX.1 code path with a LoRA, branch mode) as DeblurNet and
    BokehNet through the same benchmark."""
    from train.cli import main
    from train.config import load_train_config
    from train.launch.local import train_local

    fast = ["eval.batches=1", "eval.sample_steps=1", "eval.lvcorr_images=1", "checkpoint.every=10"]
    deblur = load_train_config("deblurnet_tinyflux.toml", fast)
    bokeh = load_train_config("deblurnet_tinyflux.toml", [*fast, "network='bokehnet'"])
    for name, cfg in (("deblur", deblur), ("bokeh", bokeh)):
        train_local(cfg, [synth_manifest], tmp_path / name, steps=1, show_progress=False)
    out = tmp_path / "bench"
    argv = _bench_argv(tmp_path / "deblur", tmp_path / "bokeh", synth_manifest, out, scenes=1)
    assert main(argv) == 0
    r = json.loads((out / "benchmark.json").read_text())
    assert r["bokeh"]["bokehnet"]["images"] == 3 and np.isfinite(r["bokeh"]["bokehnet"]["psnr"])
    assert np.isfinite(r["deblur"]["deblurnet"]["psnr"]) and "bokehnet" in r["lvcorr"]


def test_the_reference_renders_sub_pixel_blur_with_the_aperture_it_is_given():
    """The benchmark's reference blurs at a K whose radii are all under half a pixel (the
    sweeps start at K = 0.5), and a triangle aperture gives another image than the disc."""
    from train.evaluate.methods import reference

    rng = np.random.default_rng(3)
    aif = torch.from_numpy(rng.random((1, 3, 32, 32)) * 2 - 1).float()
    disp = torch.full((1, 1, 32, 32), 0.3)
    out = reference(aif, disp, 1.0, 0.6)  # radius 0.3 px everywhere
    assert 0 < (out - aif).abs().max() < 0.5
    tri = np.tril(np.ones((16, 16)))
    disc, shaped = reference(aif, disp, 20.0, 0.6), reference(aif, disp, 20.0, 0.6, tri)
    assert (disc - shaped).abs().mean() > 0.01
