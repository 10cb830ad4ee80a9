"""Shared fixtures for curate tests: generated EXIF photos, a Ray instance, a tiny CLIP model,
and the in-memory listing oracles (its shards, its fingerprint) the spilled listing must match."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

REPO = Path(__file__).resolve().parents[2]


def _texture(rng, h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def make_pixels(seed: int, width: int, height: int, bokeh: bool = True) -> np.ndarray:
    """A smooth random background (different per seed) with a sharp textured subject; without
    ``bokeh`` the whole frame is sharp texture."""
    rng = np.random.default_rng(seed)
    if not bokeh:
        return _texture(rng, height, width)
    coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    base = np.array(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
    h0, w0 = height // 3, width // 3
    y0, x0 = int(rng.integers(0, height - h0)), int(rng.integers(0, width - w0))
    base[y0 : y0 + h0, x0 : x0 + w0] = _texture(rng, h0, w0)
    return base


def exif_bytes(
    *,
    make="Canon",
    model="Canon EOS 5D Mark III",
    f_number=2.0,
    focal_mm=85.0,
    f35=None,
    orientation=None,
    lens_model=None,
    aperture_value=None,
):
    ex = Image.Exif()
    if make:
        ex[0x010F] = make
    if model:
        ex[0x0110] = model
    if orientation:
        ex[0x0112] = orientation
    ifd = ex.get_ifd(0x8769)
    if f_number is not None:
        ifd[0x829D] = _rational(f_number)
    if aperture_value is not None:
        ifd[0x9202] = _rational(aperture_value)
    if focal_mm is not None:
        ifd[0x920A] = _rational(focal_mm)
    if f35 is not None:
        ifd[0xA405] = int(f35)
    if lens_model:
        ifd[0xA434] = lens_model
    ifd[0x9003] = "2024:05:01 10:00:00"
    ex[0x8769] = ifd
    return ex.tobytes()


def _rational(x):
    return x if isinstance(x, IFDRational) else IFDRational(round(x * 1000), 1000)


def write_photo(path, *, seed=0, width=640, height=480, bokeh=True, fmt=None, quality=90, **exif):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(make_pixels(seed, width, height, bokeh))
    fmt = fmt or {".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        path.suffix.lower(), "JPEG"
    )
    kwargs = {"exif": exif_bytes(**exif)} if exif.get("make", True) is not False else {}
    if fmt == "JPEG":
        kwargs["quality"] = quality
    img.save(path, format=fmt, **kwargs)
    return path


@pytest.fixture(scope="session")
def photo_writer():
    return write_photo


@pytest.fixture(scope="session")
def pixels():
    return make_pixels


@pytest.fixture(scope="session")
def exif_payload():
    return exif_bytes


def in_memory_shards(entries: list, shard_size: int) -> list[list]:
    """Consecutive slices of a sorted listing: shard k holds entries[k*size:(k+1)*size]."""
    return [entries[k : k + shard_size] for k in range(0, len(entries), shard_size)]


def fingerprint_of(entries: list, shard_size: int, rejects=()) -> str:
    """The fingerprint OUT's ``listing.json`` records for a listing, written out here: a SHA-256
    of the shard size, each URI in order and each listing reject (reason and URI), one line
    each (``curate.spill`` hashes the same lines while it writes the sorted listing). A change
    of these lines would refuse the resume of every OUT written before, so a test fails."""
    h = hashlib.sha256(f"{shard_size}\n".encode())
    for e in entries:
        h.update(e.uri.encode() + b"\n")
    for r in rejects:
        h.update(f"rejected {r.reason} {r.uri}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="session")
def shards():
    return in_memory_shards


@pytest.fixture(scope="session")
def listing_fingerprint():
    return fingerprint_of


@pytest.fixture(scope="module")
def ray_local():
    """One in-process Ray per test module: 2 CPUs, loopback, its own short temp dir."""
    import ray

    from infra.ray_start import start_ray

    temp = f"/tmp/rc{uuid.uuid4().hex[:6]}"
    start_ray(num_cpus=2, temp_dir=temp, log_to_driver=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny random-init open_clip model: its JSON config and a local state_dict file."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tinyclip")
    config = folder / "tiny-test-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-test-clip", pretrained=None)
    checkpoint = folder / "tiny-test-clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return {"model": "tiny-test-clip", "model_config": str(config), "checkpoint": str(checkpoint)}


@pytest.fixture()
def short_tmp():
    d = tempfile.mkdtemp(prefix="cur", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def moto_s3(secret: str = "test-secret", key_id: str = "AKIATESTKEYID0000000"):
    """A local S3-compatible server (moto) on 127.0.0.1 with credentials in the environment
    (restored afterwards); yields ``(endpoint, boto3 client)``."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    env = {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield endpoint, boto3.client("s3", endpoint_url=endpoint)
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def s3_server_factory():
    """:func:`moto_s3` for the test modules (``with s3_server_factory(...) as (url, client)``)."""
    return moto_s3
