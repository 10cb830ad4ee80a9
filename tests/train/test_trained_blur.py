"""The blur range a BokehNet was trained to: recorded per batch and in the checkpoint, carried
through a resume and a start from other weights, and refocus's rule on it."""

import json

import numpy as np
import pytest
import torch

from train.loop import batch_blur_max_px
from train.refocus import trained_k


def test_a_batchs_largest_blur_radius():
    disp = torch.zeros(2, 1, 4, 4)
    disp[0, 0, 0, 0], disp[1, 0, 3, 3] = 0.5, 2.0
    batch = {
        "k": torch.tensor([10.0, 4.0]),
        "disp_focus": torch.tensor([0.1, 1.0]),
        "disparity": disp,
    }
    assert batch_blur_max_px(batch) == pytest.approx(4.0)  # max(10 * 0.4, 4 * 1.0, 10 * 0.1...)
    assert batch_blur_max_px({"target": torch.zeros(1)}) == 0.0


def test_refocus_refuses_past_the_trained_blur_and_finds_the_largest_k():
    disp = np.array([[0.2, 0.5], [1.0, 1.2]])
    assert trained_k(10.0, disp, [1.0], 8.0, "RUN", False) == 10.0  # 10 * 0.8 = 8 px: fits
    with pytest.raises(ValueError) as e:
        trained_k(20.0, disp, [1.0, 0.2], 8.0, "RUN", False)
    msg = str(e.value)
    assert "K 20 blurs up to 20.0 px" in msg and "8.0 px RUN was trained to (K <= 8 here)" in msg
    assert trained_k(20.0, disp, [1.0], 8.0, "RUN", True) == 20.0  # --beyond-training
    assert trained_k(50.0, disp, [1.0], None, "RUN", False) == 50.0  # no record: not checked
    assert trained_k(None, disp, [1.0, 0.2], 8.0, "RUN", False) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="RUN: no trained blur radius recorded; give K"):
        trained_k(None, disp, [1.0], None, "RUN", False)


def test_the_record_survives_a_resume_and_a_start_from_the_run(synth_manifest, tmp_path):
    from train.config import load_train_config
    from train.launch.local import train_local
    from train.runs import load_run

    fast = ["eval.batches=1", "eval.sample_steps=1", "eval.lvcorr_images=1"]
    cfg = load_train_config("bokehnet_tiny.toml", [*fast, "checkpoint.every=2"])
    run = tmp_path / "run"
    train_local(cfg, [synth_manifest], run, steps=2, show_progress=False)
    first = json.loads((run / "checkpoints" / "step-000002" / "state.json").read_text())
    assert 0 < first["blur_max_px"] < 200
    train_local(cfg, [synth_manifest], run, steps=4, show_progress=False, resume=True)
    after = json.loads((run / "checkpoints" / "step-000004" / "state.json").read_text())
    assert after["blur_max_px"] >= first["blur_max_px"]
    assert load_run(run)[1].trained_blur_max_px == after["blur_max_px"]
    state_file = run / "checkpoints" / "step-000004" / "state.json"
    for bad in ("12", -1.0, True):  # a hand-edited record is one line naming the file
        state_file.write_text(json.dumps({**after, "blur_max_px": bad}))
        with pytest.raises(ValueError, match=r"state.json: blur_max_px must be a number >= 0"):
            load_run(run)
    state_file.write_text(json.dumps(after))
    other = tmp_path / "other"
    train_local(cfg, [synth_manifest], other, steps=1, show_progress=False, init_from=run)
    started = json.loads(next((other / "checkpoints").glob("*/state.json")).read_text())
    assert started["blur_max_px"] >= after["blur_max_px"]
