"""The latent cache on a random-init tiny FLUX folder (its real VAE code path) and hand-written
manifests of non-square frames in aspect buckets: training from the cache gives the loss that
encoding on the fly gives; a changed source file or VAE is encoded again; a truncated shard is
one line and rebuilt; a corrupt one is never trained on; two builders on one folder leave a
valid cache; ``python -m train cache`` in-process and with Ray Data actors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from infra.files import TMP_MARK
from tests.train.data.test_buckets import write_frames
from train.backbones.random_flux import write_random_flux_folder
from train.cli import main
from train.config import load_train_config
from train.data.feed import TrainData
from train.latents.store import LatentStore

ASPECTS = '["1:1", "3:2", "2:3"]'


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory):
    return write_random_flux_folder(tmp_path_factory.mktemp("flux") / "FLUX.1-dev", "tiny")


@pytest.fixture
def manifest(tmp_path):
    root = tmp_path / "m"
    write_frames(root)
    return root


def settings(flux_folder, *extra):
    return [
        f'model.path="{flux_folder}"',
        'model.codec="vae"',
        "data.resolution_px=48",
        "eval.resolution_px=48",
        f"data.bucket_aspects={ASPECTS}",
        "data.random_crop=false",
        "data.sharp_fraction=0.5",
        "optim.batch_size=2",
        "eval.every=1000",
        "data_workers=0",
        *extra,
    ]


def fit(manifest, out, sets, steps=3):
    argv = ["fit", "--config", "deblurnet_tinyflux.toml", "--manifest", str(manifest)]
    flags = [x for s in sets for x in ("--set", s)]
    code = main([*argv, "--out", str(out), "--steps", str(steps), "--quiet", *flags])
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]
    return code, losses


def test_training_from_the_cache_gives_the_loss_of_encoding_on_the_fly(
    flux_folder, manifest, tmp_path, capsys
):
    code, direct = fit(manifest, tmp_path / "direct", settings(flux_folder))
    assert code == 0
    cache = tmp_path / "cache"
    code, cached = fit(
        manifest, tmp_path / "cached", settings(flux_folder, f'data.latent_cache="{cache}"')
    )
    assert code == 0
    assert "encoding" in capsys.readouterr().err  # the first run fills the cache
    assert len(direct) == len(cached) == 3
    assert np.allclose(cached, direct, rtol=0, atol=1e-5), (cached, direct)
    shards = sorted(cache.glob("shard-*.safetensors"))
    assert shards and len(list(cache.glob("shard-*.json"))) == len(shards)
    mtimes = [p.stat().st_mtime_ns for p in shards]
    code, again = fit(
        manifest, tmp_path / "again", settings(flux_folder, f'data.latent_cache="{cache}"')
    )
    assert code == 0 and again == cached
    assert "encoding" not in capsys.readouterr().err  # nothing left to encode
    assert [p.stat().st_mtime_ns for p in sorted(cache.glob("shard-*.safetensors"))] == mtimes


def open_data(flux_folder, manifest, cache, flux=None):
    sets = settings(flux or flux_folder, f'data.latent_cache="{cache}"')
    cfg = load_train_config("deblurnet_tinyflux.toml", sets)
    return TrainData.load(cfg, [str(manifest)])


def test_a_changed_source_file_or_vae_is_encoded_again(flux_folder, manifest, tmp_path):
    cache = tmp_path / "cache"
    data = open_data(flux_folder, manifest, cache)
    before = set(data.latents.store.entries)
    row = data.train_rows[0]
    aif = manifest / row["aif_path"]
    img = np.asarray(Image.open(aif)).copy()
    img[0, 0] = 99  # one pixel of one scene's all-in-focus image
    Image.fromarray(img).save(aif)
    data = open_data(flux_folder, manifest, cache)
    new = set(data.latents.store.entries) - before
    assert len(new) == 1  # that AIF at its crop (both renders of the scene share it)
    assert data.latents.keys[0].target in new
    other_vae = write_random_flux_folder(tmp_path / "other" / "FLUX.1-dev", "tiny", seed=1)
    data = open_data(flux_folder, manifest, cache, flux=other_vae)
    assert not set(data.latents.keys[0].conds) & before  # a new VAE: every latent again


def test_a_truncated_shard_is_one_line_and_encoded_again(flux_folder, manifest, tmp_path, capsys):
    cache = tmp_path / "cache"
    data = open_data(flux_folder, manifest, cache)
    n = len(data.latents.store.entries)
    shard = sorted(cache.glob("shard-*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])
    capsys.readouterr()
    data = open_data(flux_folder, manifest, cache)
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(shard) in warning[0] and "truncated" in warning[0]
    assert len(data.latents.store.entries) == n  # rebuilt
    assert LatentStore(cache).verify() == n


def test_a_corrupt_shard_is_never_trained_on(flux_folder, manifest, tmp_path, capsys):
    cache = tmp_path / "cache"
    open_data(flux_folder, manifest, cache)
    for shard in cache.glob("shard-*.safetensors"):  # same size, other bytes: only a hash sees it
        raw = bytearray(shard.read_bytes())
        raw[-8:] = bytes(255 - b for b in raw[-8:])
        shard.write_bytes(bytes(raw))
    sets = settings(flux_folder, f'data.latent_cache="{cache}"')
    capsys.readouterr()
    code, _ = fit(manifest, tmp_path / "run", sets, steps=1)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"error: {cache}/shard-") and "corrupt cache shard" in err
    code, losses = fit(manifest, tmp_path / "run2", sets, steps=1)  # the shard was removed
    assert code == 0 and len(losses) == 1 and np.isfinite(losses[0])


def test_two_builders_on_one_folder_leave_a_valid_cache(flux_folder, manifest, tmp_path):
    cache = tmp_path / "cache"
    sets = [x for s in settings(flux_folder) for x in ("--set", s)]
    cmd = [sys.executable, "-m", "train", "cache", "--config", "deblurnet_tinyflux.toml"]
    cmd += ["--manifest", str(manifest), "--out", str(cache), *sets]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    store = LatentStore(cache)
    assert store.verify() == len(store.entries) > 0
    assert all(" 6/6 samples" in out for out, _ in outs), outs  # 8 rows, one scene held out


def test_cache_command_with_ray_data_actors(flux_folder, manifest, tmp_path, capsys):
    cache = tmp_path / "cache"
    sets = [x for s in settings(flux_folder) for x in ("--set", s)]
    argv = ["cache", "--config", "deblurnet_tinyflux.toml", "--manifest", str(manifest)]
    code = main([*argv, "--out", str(cache), "--workers", "1", *sets])
    out = capsys.readouterr().out
    assert code == 0 and " 6/6 samples" in out, out
    code = main([*argv, "--out", str(cache), "--workers", "0", "--verify", *sets])
    captured = capsys.readouterr()
    assert code == 0 and "latents verified" in captured.err
    assert "encoding" not in captured.err  # the actors' shards serve the in-process run


def test_cache_settings_are_checked(flux_folder, manifest, tmp_path, capsys):
    argv = ["cache", "--config", "deblurnet_tinyflux.toml", "--manifest", str(manifest)]
    code = main([*argv, "--out", str(tmp_path / "c")])  # random crops cannot be cached
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "random_crop = false" in err
    code = main(argv)
    assert code == 2 and "--out" in capsys.readouterr().err


def test_hostile_cache_folders_are_one_line(manifest, tmp_path, capsys):
    """A cache that is a file, an unreadable sidecar, a sidecar naming keys its shard lacks: one
    line each; nothing is trained on a latent no check vouches for."""
    sets = ["--set", "data.random_crop=false", "--set", "data.augment=[]"]
    argv = ["cache", "--config", "deblurnet_tiny.toml", "--manifest", str(manifest), *sets]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main([*argv, "--out", str(a_file)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {a_file}: the latent cache must be a folder, this is a file\n"
    )
    cache = tmp_path / "cache"
    assert main([*argv, "--out", str(cache)]) == 0
    sidecar = sorted(cache.glob("shard-*.json"))[0]
    meta = json.loads(sidecar.read_text())
    meta["entries"]["0" * 40] = "f" * 64  # a latent the shard does not hold
    sidecar.write_text(json.dumps(meta))
    (cache / "shard-zz.json").write_text("{not json")
    capsys.readouterr()
    assert main([*argv, "--out", str(cache)]) == 0  # both reported, the shard encoded again
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 2 and any("unreadable sidecar shard-zz.json" in e for e in err)
    assert any("its tensors are not the ones its sidecar lists" in e for e in err), err
    assert LatentStore(cache).verify() == len(LatentStore(cache).entries)


BUILDER = """
import sys
from train.config import load_train_config
from train.codecs import make_codec
from train.data.bucketed import row_crops
from train.data.feed import TrainData
from train.latents.build import encode_missing, row_keys
from train.latents.keys import codec_id
from train.latents.store import LatentStore

cfg = load_train_config("deblurnet_tinyflux.toml", sys.argv[3:])
rows, _ = TrainData.split(cfg, [sys.argv[1]])
crops = row_crops(cfg, rows)
store = LatentStore(sys.argv[2])
keys, hashes = row_keys(rows, crops, cfg, store, codec_id(cfg))
codec = make_codec(cfg.model)
print(encode_missing(rows, crops, keys, cfg, codec, store, hashes, "cpu"))
"""


def test_two_unlocked_builders_cannot_corrupt_a_cache(flux_folder, manifest, tmp_path):
    """Builders on different machines share no lock (flock may not reach across NFS): both
    encode everything at once into one folder; every shard is whole and every latent checks."""
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-c", BUILDER, str(manifest), str(cache), *settings(flux_folder)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    written = [int(out.strip().splitlines()[-1]) for out, _ in outs]
    store = LatentStore(cache)
    assert min(written) > 0 and len(store.entries) == max(written)  # the same latents, twice
    assert store.verify() == len(store.entries)
    assert not list(cache.glob(f".*{TMP_MARK}*"))  # no partial file left behind
