"""Shared train fixtures: a real synthetic manifest rendered once with Blender (64², 4 spp)."""

import pytest


@pytest.fixture(scope="session")
def synth_manifest(tmp_path_factory, render_synth) -> str:
    return str(render_synth(tmp_path_factory.mktemp("train_synth") / "synth", 10, 64, 4))


@pytest.fixture
def tiny_cfg():
    """A loader for the checked-in tiny configs with test-sized settings."""
    from train.config import load_train_config

    def load(name: str, **eval_overrides):
        cfg = load_train_config(name)
        # one compute thread: the auto count depends on the machine's load at the start, and
        # tests compare runs bit for bit (a thread count changes the numerics at 1e-6)
        cfg.compute_threads = 1
        cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 2
        cfg.eval.lvcorr_images = 1
        for k, v in eval_overrides.items():
            setattr(cfg.eval, k, v)
        return cfg

    return load


@pytest.fixture(scope="session")
def one_step_runs(tmp_path_factory):
    """``one_step_runs(manifest, names)``: each checked-in tiny config trained for one step on
    ``manifest`` with test-sized evaluation; returns ``{name: (run folder, metrics)}``."""
    from train.config import load_train_config
    from train.launch.local import train_local

    def train(manifest, names=("deblurnet_tiny", "bokehnet_tiny", "bokehnet_tiny_shape")):
        out = {}
        for name in names:
            cfg = load_train_config(f"{name}.toml")
            cfg.compute_threads = 1
            cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 1
            cfg.eval.lvcorr_images, cfg.eval.k_sweep = 1, [0.0, 40.0]
            cfg.optim.batch_size = 2
            run = tmp_path_factory.mktemp(name) / "run"
            out[name] = (run, train_local(cfg, [manifest], run, steps=1, show_progress=False))
        return out

    return train
