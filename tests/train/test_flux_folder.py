"""The FLUX.1-dev path from a local folder, end to end, on a random-init folder of the same layout:
transformer and VAE loading, the cached text embeddings (no encoder runs once cached), bf16
weights, a `fit` through the release config, and the LoRA loading into a stock `FluxPipeline`."""

import shutil

import pytest
import torch

from train.backbones.random_flux import write_random_flux_folder
from train.config import load_train_config
from train.text import flux_prompt_embeddings


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory):
    return write_random_flux_folder(tmp_path_factory.mktemp("flux") / "FLUX.1-dev", "tiny")


def test_folder_has_the_diffusers_layout(flux_folder):
    for part in ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer_2"):
        assert (flux_folder / part).is_dir(), part
    assert (flux_folder / "model_index.json").is_file()


def test_prompt_embeddings_are_computed_once_then_read_from_the_cache(flux_folder, tmp_path):
    folder = tmp_path / "flux"
    shutil.copytree(flux_folder, folder)
    prompt = "a sharp photo with everything in focus"
    emb, pooled = flux_prompt_embeddings(prompt, str(folder), tmp_path / "cache")
    assert emb.shape == (1, 512, 32) and pooled.shape == (1, 32)  # T5 tokens, CLIP pooled
    assert emb.dtype == torch.float32 and torch.isfinite(emb).all()
    assert len(list((tmp_path / "cache").glob("prompt-*.safetensors"))) == 1
    other, _ = flux_prompt_embeddings("a photo with bokeh", str(folder), tmp_path / "cache")
    assert not torch.equal(other, emb)
    # with both text encoders gone, the cached prompt still loads (no encoder runs)
    shutil.rmtree(folder / "text_encoder")
    shutil.rmtree(folder / "text_encoder_2")
    again, pooled_again = flux_prompt_embeddings(prompt, str(folder), tmp_path / "cache")
    assert torch.equal(again, emb) and torch.equal(pooled_again, pooled)


def test_vae_codec_and_bf16_denoiser_from_the_folder(flux_folder, tmp_path):
    from train.model import build_model

    cfg = load_train_config("bokehnet_flux.toml")
    cfg.model.path, cfg.data.cache_dir = str(flux_folder), str(tmp_path)
    built = build_model(cfg)
    assert built.codec.downsample == 8 and built.codec.latent_channels == 16
    assert built.denoiser.inner.transformer.proj_out.weight.dtype == torch.bfloat16
    lora = [p for p in built.trainable]
    assert lora and all(p.dtype == torch.float32 for p in lora)  # fp32 LoRA on a bf16 base
    img = torch.rand(2, 3, 64, 64) * 2 - 1
    z = built.codec.encode(img, generator=torch.Generator().manual_seed(0))
    assert z.shape == (2, 16, 8, 8)
    assert built.codec.decode(z).shape == img.shape
    v = built.denoiser(z, [z, z], torch.tensor([0.3, 0.9]))
    assert v.shape == z.shape and v.dtype == torch.float32 and torch.isfinite(v).all()


def test_fit_with_the_release_config_and_the_lora_loads_into_flux_pipeline(
    flux_folder, synth_manifest, tmp_path
):
    """deblurnet_flux.toml as shipped (r = 128, bf16, gradient checkpointing, grad accumulation)
    with only the folder and sizes changed; the saved LoRA loads into a stock FluxPipeline."""
    from diffusers import FluxPipeline
    from safetensors.torch import load_file

    from train.launch.local import train_local

    cfg = load_train_config("deblurnet_flux.toml")
    cfg.model.path, cfg.data.cache_dir = str(flux_folder), str(tmp_path / "cache")
    cfg.data.resolution_px, cfg.optim.grad_accum, cfg.optim.warmup_steps = 64, 2, 1
    cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 2
    m = train_local(cfg, [synth_manifest], tmp_path / "run", steps=2, show_progress=False)
    assert m["steps_run"] == 2 and m["psnr"] > 0 and m["psnr_identity"] > 0
    ckpt = tmp_path / "run" / "checkpoints" / "step-000002"
    saved = load_file(str(ckpt / "pytorch_lora_weights.safetensors"))
    assert len(saved) == 2 * 13  # lora_A/B on 6 + 6 modules of the 1 + 1 blocks, x_embedder
    pipe = FluxPipeline.from_pretrained(str(flux_folder), local_files_only=True)
    pipe.load_lora_weights(str(ckpt))
    loaded = {
        n: p for n, p in pipe.transformer.named_parameters() if "lora_B" in n and "x_embedder" in n
    }
    assert loaded, "no LoRA parameters after load_lora_weights"
    (ours,) = [t for k, t in saved.items() if "x_embedder" in k and "lora_B" in k]
    assert ours.abs().max() > 0  # trained away from peft's zero init
    assert any(torch.equal(ours.float(), p.float()) for p in loaded.values())
