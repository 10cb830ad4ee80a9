"""FLUX forward with condition *branches* (OminiControl style, compatible with Genfocus LoRAs).

Token streams: text, the target (noisy latent at timestep t) and one stream per condition
image (clean latent at timestep 0). The image-stream modules are shared by target and
conditions, but each stream gets its own adaLN modulation (from its own timestep embedding) and
the LoRA is applied **only on condition tokens** (the target and text use the frozen base
weights). All streams meet in one attention with a mask: condition i never attends to condition
j ≠ i; everything else attends to everything. With no conditions this is exactly the stock
diffusers forward (a test checks it). ``model.enable_gradient_checkpointing()`` is honoured:
each block is recomputed in the backward pass, as in the stock forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import apply_rotary_emb


def lin(layer, x: torch.Tensor, lora: bool) -> torch.Tensor:
    """Apply a (possibly LoRA-wrapped) linear layer with or without its LoRA delta."""
    if not lora and hasattr(layer, "base_layer"):
        return layer.base_layer(x)
    return layer(x)


def _ada_zero(norm, x, emb, lora):
    e = lin(norm.linear, F.silu(emb), lora)
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = e.chunk(6, dim=1)
    return norm.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None], (
        gate_msa,
        shift_mlp,
        scale_mlp,
        gate_mlp,
    )


def _ada_zero_single(norm, x, emb, lora):
    e = lin(norm.linear, F.silu(emb), lora)
    shift, scale, gate = e.chunk(3, dim=1)
    return norm.norm(x) * (1 + scale[:, None]) + shift[:, None], gate


def _ff(ff, x, lora):
    h = ff.net[0](x)  # GELU(proj): not a LoRA target
    h = ff.net[1](h)
    return lin(ff.net[2], h, lora)


def _heads(x, head_dim):
    return x.unflatten(-1, (-1, head_dim))


def _attend(q_parts, k_parts, v_parts, rope, mask):
    q, k, v = torch.cat(q_parts, 1), torch.cat(k_parts, 1), torch.cat(v_parts, 1)  # B, L, H, D
    q = apply_rotary_emb(q, rope, sequence_dim=1)
    k = apply_rotary_emb(k, rope, sequence_dim=1)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2).flatten(2, 3).to(q.dtype)


def _split(x, sizes):
    return list(torch.split(x, sizes, dim=1))


def branch_mask(sizes: list[int], n_text: int, n_target: int, device) -> torch.Tensor | None:
    """Boolean (L, L) mask, True = may attend; ``sizes`` are the condition token counts."""
    if len(sizes) < 2:
        return None
    total = n_text + n_target + sum(sizes)
    mask = torch.ones(total, total, dtype=torch.bool, device=device)
    starts = [n_text + n_target + sum(sizes[:i]) for i in range(len(sizes))]
    for i, (a, na) in enumerate(zip(starts, sizes, strict=True)):
        for j, (b, nb) in enumerate(zip(starts, sizes, strict=True)):
            if i != j:
                mask[a : a + na, b : b + nb] = False
    return mask


def double_block(block, txt, x, conds, temb_t, temb_0, rope, mask):
    """One FLUX double-stream block over the text, target and condition streams: returns the
    new ``(txt, x, conds)``; each condition stream has its own modulation and its LoRA."""
    attn = block.attn
    hd = attn.head_dim
    n_x, ga_x = _ada_zero(block.norm1, x, temb_t, lora=False)
    cond_norms = [_ada_zero(block.norm1, c, temb_0, lora=True) for c in conds]
    n_c, ga_c = [n for n, _ in cond_norms], [g for _, g in cond_norms]
    n_t, ga_t = _ada_zero(block.norm1_context, txt, temb_t, lora=False)

    def qkv(h, lora):
        q = attn.norm_q(_heads(lin(attn.to_q, h, lora), hd))
        k = attn.norm_k(_heads(lin(attn.to_k, h, lora), hd))
        return q, k, _heads(lin(attn.to_v, h, lora), hd)

    tq = attn.norm_added_q(_heads(attn.add_q_proj(n_t), hd))
    tk = attn.norm_added_k(_heads(attn.add_k_proj(n_t), hd))
    tv = _heads(attn.add_v_proj(n_t), hd)
    streams = [qkv(n_x, False)] + [qkv(h, True) for h in n_c]
    out = _attend(
        [tq] + [s[0] for s in streams],
        [tk] + [s[1] for s in streams],
        [tv] + [s[2] for s in streams],
        rope,
        mask,
    )
    parts = _split(out, [txt.shape[1], x.shape[1], *[c.shape[1] for c in conds]])

    def image_stream(h, a, gates, lora):
        gate_msa, shift_mlp, scale_mlp, gate_mlp = gates
        a = attn.to_out[1](lin(attn.to_out[0], a, lora))
        h = h + gate_msa.unsqueeze(1) * a
        n = block.norm2(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return h + gate_mlp.unsqueeze(1) * _ff(block.ff, n, lora)

    x = image_stream(x, parts[1], ga_x, False)
    conds = [image_stream(c, a, g, True) for c, a, g in zip(conds, parts[2:], ga_c, strict=True)]
    gate_msa, shift_mlp, scale_mlp, gate_mlp = ga_t
    txt = txt + gate_msa.unsqueeze(1) * attn.to_add_out(parts[0])
    n = block.norm2_context(txt) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
    txt = txt + gate_mlp.unsqueeze(1) * block.ff_context(n)
    return txt, x, conds


def _single(block, txt, x, conds, temb_t, temb_0, rope, mask):
    attn = block.attn
    hd = attn.head_dim
    main = torch.cat([txt, x], dim=1)  # text and target share the base weights and timestep t
    streams = [(main, temb_t, False)] + [(c, temb_0, True) for c in conds]
    normed, gates, mlps, qs, ks, vs = [], [], [], [], [], []
    for h, emb, lora in streams:
        n, g = _ada_zero_single(block.norm, h, emb, lora)
        normed.append(n)
        gates.append(g)
        mlps.append(block.act_mlp(lin(block.proj_mlp, n, lora)))
        qs.append(attn.norm_q(_heads(lin(attn.to_q, n, lora), hd)))
        ks.append(attn.norm_k(_heads(lin(attn.to_k, n, lora), hd)))
        vs.append(_heads(lin(attn.to_v, n, lora), hd))
    out = _attend(qs, ks, vs, rope, mask)
    parts = _split(out, [s[0].shape[1] for s in streams])
    results = []
    for (h, _emb, lora), a, mlp, g in zip(streams, parts, mlps, gates, strict=True):
        y = lin(block.proj_out, torch.cat([a, mlp], dim=2), lora)
        results.append(h + g.unsqueeze(1) * y)
    main = results[0]
    return main[:, : txt.shape[1]], main[:, txt.shape[1] :], results[1:]


def _call(fn, *args):
    return fn(*args)


def _checkpointed(fn, *args):
    """``fn(*args)`` keeping no activations: recomputed in backward (gradient checkpointing)."""
    return torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)


def branch_forward(
    model, x, conds, txt, pooled, timestep, img_ids, cond_ids, txt_ids, guidance=None
) -> torch.Tensor:
    """Velocity for the target tokens ``x`` (B, N, C) given condition tokens (each B, Nc, C).

    ``timestep`` is σ in [0, 1] (B,), as the stock forward takes it; conditions use σ = 0.
    """
    t = timestep.to(x.dtype) * 1000
    g = guidance.to(x.dtype) * 1000 if guidance is not None else None

    def temb(tt):
        if g is None:
            return model.time_text_embed(tt, pooled)
        return model.time_text_embed(tt, g, pooled)

    temb_t, temb_0 = temb(t), temb(torch.zeros_like(t))
    h = lin(model.x_embedder, x, lora=False)
    cs = [lin(model.x_embedder, c, lora=True) for c in conds]
    txt = model.context_embedder(txt)
    rope = model.pos_embed(torch.cat([txt_ids, img_ids, *cond_ids], dim=0))
    mask = branch_mask([c.shape[1] for c in cs], txt.shape[1], h.shape[1], x.device)
    run = _checkpointed if model.gradient_checkpointing and torch.is_grad_enabled() else _call
    for block in model.transformer_blocks:
        txt, h, cs = run(double_block, block, txt, h, cs, temb_t, temb_0, rope, mask)
    for block in model.single_transformer_blocks:
        txt, h, cs = run(_single, block, txt, h, cs, temb_t, temb_0, rope, mask)
    h = model.norm_out(h, temb_t)
    return model.proj_out(h)
