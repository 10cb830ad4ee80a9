"""FLUX backbone: the branch forward equals the stock forward where it must, LoRA placement."""

import pytest
import torch

from train.backbones.flux import LORA_TARGETS, FluxDenoiser, add_lora, tiny_flux
from train.backbones.flux_branch import branch_mask, double_block
from train.codecs import PixelCodec, pack, position_ids, unpack


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # random-init models; restored so hypothesis keeps subnormals
    yield
    torch.set_flush_denormal(False)


TXT = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(5))
POOLED = torch.randn(1, 32, generator=torch.Generator().manual_seed(6))


def make(mode, transformer):
    return FluxDenoiser(transformer, TXT, POOLED, mode, guidance=3.5)


def latents(n=2, size=32):
    codec = PixelCodec(2)
    return codec.encode(torch.rand(n, 3, size, size) * 2 - 1)


def randomise_lora(model):
    for name, p in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)


@torch.no_grad()
def test_branch_equals_stock_forward_without_conditions():
    m = tiny_flux(48)
    z, sigma = latents(), torch.tensor([0.3, 0.8])
    assert torch.allclose(make("seq", m)(z, [], sigma), make("branch", m)(z, [], sigma), atol=1e-5)


@torch.no_grad()
def test_modes_agree_with_one_condition_at_timestep_zero_and_zero_lora():
    m = add_lora(tiny_flux(48), rank=4)  # peft initialises B = 0: the LoRA adds nothing yet
    z, c = latents(), latents()
    zero = torch.zeros(2)
    a, b = make("seq", m)(z, [c], zero), make("branch", m)(z, [c], zero)
    assert torch.allclose(a, b, atol=1e-5)
    # at t > 0 they must differ: branch keeps the condition at timestep 0
    s = torch.tensor([0.5, 0.5])
    assert (make("seq", m)(z, [c], s) - make("branch", m)(z, [c], s)).abs().max() > 1e-4


@torch.no_grad()
def test_branch_lora_acts_only_on_condition_tokens():
    m = add_lora(tiny_flux(48), rank=4)
    randomise_lora(m)
    z, sigma = latents(), torch.tensor([0.3, 0.8])
    with_lora = make("branch", m)(z, [], sigma)
    m.disable_adapters()
    base = make("seq", m)(z, [], sigma)
    m.enable_adapters()
    assert torch.allclose(with_lora, base, atol=1e-5)  # no condition tokens: LoRA unused
    assert (make("seq", m)(z, [], sigma) - base).abs().max() > 1e-3  # seq: LoRA everywhere
    c = latents()
    changed = make("branch", m)(z, [c], sigma) - make("branch", m)(z, [c * 0.5], sigma)
    assert changed.abs().max() > 1e-4


@torch.no_grad()
def test_conditions_do_not_attend_to_each_other():
    m = add_lora(tiny_flux(48, layers=1, single_layers=0), rank=4)
    randomise_lora(m)
    block = m.transformer_blocks[0]
    dim = m.inner_dim
    txt, x = torch.randn(1, 5, dim), torch.randn(1, 16, dim)
    c1, c2 = torch.randn(1, 16, dim), torch.randn(1, 16, dim)
    temb_t, temb_0 = torch.randn(1, dim), torch.randn(1, dim)
    ids = torch.cat(
        [torch.zeros(5, 3), position_ids(8, 8, 0), position_ids(8, 8, 1), position_ids(8, 8, 2)]
    )
    rope = m.pos_embed(ids)
    mask = branch_mask([16, 16], 5, 16, "cpu")
    _, x_a, (c1_a, _) = double_block(block, txt, x, [c1, c2], temb_t, temb_0, rope, mask)
    c2_new = torch.randn(1, 16, dim)  # (an affine change would vanish in the LayerNorm)
    _, x_b, (c1_b, _) = double_block(block, txt, x, [c1, c2_new], temb_t, temb_0, rope, mask)
    assert torch.allclose(c1_a, c1_b, atol=1e-6)  # condition 1 never sees condition 2
    assert (x_a - x_b).abs().max() > 1e-4  # the target sees both


def test_lora_targets_the_343_release_modules():
    m = tiny_flux(64, layers=19, single_layers=38, heads=1, head_dim=8, text_dim=8, pooled_dim=8)
    add_lora(m, rank=2)
    names = [n for n, mod in m.named_modules() if hasattr(mod, "lora_A")]
    assert len(names) == 343
    assert "x_embedder" in names and "transformer_blocks.0.norm1.linear" in names
    assert "single_transformer_blocks.37.proj_out" in names
    assert not any("context" in n or "add_" in n for n in names)  # text side untouched
    assert all(not p.requires_grad for n, p in m.named_parameters() if "lora_" not in n)
    assert LORA_TARGETS


def test_pack_unpack_and_position_ids():
    z = torch.randn(2, 12, 8, 6)
    t = pack(z)
    assert t.shape == (2, 12, 48)
    assert torch.equal(unpack(t, 8, 6), z)
    ids = position_ids(8, 6, index=2, width_offset=32)
    assert ids.shape == (12, 3) and ids[:, 0].eq(2).all()
    assert ids[0].tolist() == [2, 0, 32] and ids[-1].tolist() == [2, 3, 34]
    codec = PixelCodec(4)
    img = torch.rand(1, 3, 16, 16)
    assert torch.equal(codec.decode(codec.encode(img)), img)


@pytest.mark.parametrize("mode", ["branch", "seq"])
def test_gradient_checkpointing_gives_the_same_loss_and_lora_grads(mode):
    """Recomputing each block in backward (``enable_gradient_checkpointing``) changes no number."""

    def grads(checkpointing: bool):
        torch.manual_seed(3)
        m = add_lora(tiny_flux(48), rank=4)
        randomise_lora(m)
        if checkpointing:
            m.enable_gradient_checkpointing()
        z, c1, c2 = latents(), latents(), latents()
        saved = []
        hooks = (lambda t: saved.append(t.numel()) or t), (lambda t: t)
        with torch.autograd.graph.saved_tensors_hooks(*hooks):
            v = make(mode, m)(z, [c1, c2], torch.tensor([0.4, 0.9]))
        v.square().mean().backward()
        kept[checkpointing] = sum(saved)
        # (the last block's condition outputs are discarded: their LoRA gets no gradient)
        return {n: p.grad for n, p in m.named_parameters() if p.grad is not None}

    kept = {}
    plain, ckpt = grads(False), grads(True)
    assert kept[True] < kept[False] / 2, kept  # activations kept for backward: really fewer
    assert plain.keys() == ckpt.keys() and len(plain) > 10
    for name in plain:
        assert torch.allclose(plain[name], ckpt[name], atol=1e-6), name
