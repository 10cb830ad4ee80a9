"""The CLIP scorer with a tiny random-init open_clip model saved locally (plumbing only)."""

import numpy as np
import pytest
import torch

from curate.config import ClipConfig
from curate.scoring import ClipScorer, ScoringError, build_model


def test_scores_and_embeddings_from_a_local_checkpoint(tiny_clip, pixels):
    cfg = ClipConfig(**tiny_clip, batch_size=4)
    scorer = ClipScorer(cfg, device="cpu")
    assert scorer.size_px == 32
    from curate.decode import clip_input

    batch = np.stack([clip_input(pixels(s, 96, 64), 32) for s in range(5)])
    out = scorer.score(batch)
    assert len(out["clip_quality"]) == 5 and len(out["clip_embedding"]) == 5
    for key in ("clip_quality", "clip_shallow_dof"):
        assert all(0.0 <= v <= 1.0 for v in out[key])
    emb = out["clip_embedding"][0]
    assert emb.dtype == np.float16 and emb.shape == (32,)
    assert np.linalg.norm(emb.astype(np.float32)) == pytest.approx(1.0, abs=1e-2)
    # The weights really are the ones saved in the local file.
    state = torch.load(cfg.checkpoint)
    loaded = scorer.model.state_dict()
    assert all(torch.equal(state[k], loaded[k]) for k in state)


def test_no_checkpoint_never_means_random_weights(tiny_clip, tmp_path):
    with pytest.raises(ScoringError, match="no CLIP checkpoint configured"):
        build_model(tiny_clip["model"], "")
    with pytest.raises(ScoringError, match="no such local file"):
        build_model(tiny_clip["model"], str(tmp_path / "nope.pt"))
    bad = tmp_path / "bad.pt"
    torch.save({"unrelated": torch.zeros(1)}, bad)
    with pytest.raises(ScoringError, match="does not fit"):
        build_model(tiny_clip["model"], str(bad))
