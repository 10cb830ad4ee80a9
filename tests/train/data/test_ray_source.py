"""Ray Data builds the same samples as the in-process builder; the stream resumes mid-way."""

import os
import shutil
import uuid

import pytest
import torch

from infra.ray_start import start_ray
from train.data.build import build_sample
from train.data.config import DataConfig


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    tmp = f"/tmp/rt-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start_ray(num_cpus=2, temp_dir=tmp, log_to_driver=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def test_ray_stream_builds_the_same_samples_as_the_in_process_builder(synth_rows, ray_local):
    """Ray Data runs the very same ``build_sample``: draw g of the stream, batched through
    ``iter_batches``, equals building that row in-process with the draw's generator."""
    from train.data.mixture import MixtureSampler
    from train.data.ray_source import RayStreamSource, ray_train_stream, sample_rng

    cfg = DataConfig(task="bokeh", resolution_px=32, seed=4)
    rows = synth_rows[:7]
    stream = ray_train_stream(rows, cfg, 14)
    stream.context.execution_options.preserve_order = True
    source = RayStreamSource(stream, batch_size=3, grad_accum=2, seed=cfg.seed)
    steps = list(source.steps(0, 2))
    assert [[b["target"].shape[0] for b in s] for s in steps] == [[3, 3], [3, 3]]
    sampler = MixtureSampler(len(rows), 0, 0.0, cfg.seed)
    seen = 0
    for batch in (b for s in steps for b in s):
        for j, draw_id in enumerate(batch["id"]):
            i = next(
                n for n, r in enumerate(rows) if f"{r['scene_id']}/{r['render_id']}" == draw_id
            )
            g = [g for g in range(14) if sampler.draw(g)[1] == i]
            want = [
                build_sample(rows[i], cfg, sample_rng(cfg.seed, i, x // len(rows)), True) for x in g
            ]
            assert any(
                torch.equal(batch["target"][j], w["target"])
                and all(
                    torch.equal(c[j], wc) for c, wc in zip(batch["cond"], w["cond"], strict=True)
                )
                for w in want
            )
            seen += 1
    assert seen == 12 and source.summary() == {"ray_batches_skipped": 0}
    skipping = RayStreamSource(stream, batch_size=3, grad_accum=2, seed=cfg.seed, skip_steps=1)
    assert len(list(skipping.steps(1, 2))) == 1 and skipping.summary()["ray_batches_skipped"] == 2


def test_ray_train_stream_fresh_crops_every_pass_and_resumes_mid_stream(synth_rows, ray_local):
    """One dataset covers the run: each pass visits every row once with new crops, and a stream
    started at draw 9 (a resumed run) is exactly the rest of the full stream."""
    from train.data.ray_source import ray_train_stream

    cfg = DataConfig(task="deblur", resolution_px=32, seed=4)
    rows = synth_rows[:6]
    full = {int(r["draw"]): r for r in ray_train_stream(rows, cfg, 18).take_all()}
    assert sorted(full) == list(range(18))
    passes = [[full[g] for g in range(6 * e, 6 * e + 6)] for e in range(3)]
    ids = [sorted(r["id"] for r in p) for p in passes]
    assert ids[0] == ids[1] == ids[2] == sorted(f"{r['scene_id']}/{r['render_id']}" for r in rows)
    assert [r["id"] for r in passes[0]] != [r["id"] for r in passes[1]]  # reshuffled per pass
    for a_pass, b_pass in ((passes[0], passes[1]), (passes[1], passes[2])):
        by_id = {r["id"]: r["target"] for r in b_pass}
        changed = sum(not (r["target"] == by_id[r["id"]]).all() for r in a_pass)
        assert changed == len(rows)  # every row cropped differently in the next pass
    rest = {int(r["draw"]): r for r in ray_train_stream(rows, cfg, 9, start=9).take_all()}
    assert sorted(rest) == list(range(9, 18))
    for g, r in rest.items():
        assert r["id"] == full[g]["id"] and (r["target"] == full[g]["target"]).all()
