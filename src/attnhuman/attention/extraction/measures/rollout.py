"""Attention rollout (Abnar & Zuidema, 2020; docs/method.md, "Attention measures").

``B_l = 0.5 * mean_h(alpha_l) + 0.5 * I``, rows renormalised; ``R_0 = B_0``, ``R_l = B_l @ R_{l-1}``. Attention between
padded and real positions is zeroed first (padded rows become the identity), so nothing flows between them.
"""
from __future__ import annotations

import torch

from attnhuman.attention.extraction.measures.families import attentions, work_dtype


def rollout(model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer ``(B, 1, T, T)`` rolled-out attention and the logits ``(B, T, V)`` of a causal LM."""
    out = model(**inputs, output_attentions=True, use_cache=False)
    alphas = attentions(model, out)
    dtype = work_dtype(alphas[0].dtype)
    t = alphas[0].shape[-1]
    mask = inputs.get("attention_mask", torch.ones_like(inputs["input_ids"]))
    real = mask.to(device=alphas[0].device, dtype=torch.bool)
    pair = real[:, :, None] & real[:, None, :]                                    # (B, T, T)
    eye = torch.eye(t, dtype=dtype, device=alphas[0].device)
    rolled, scores = None, []
    for alpha in alphas:
        mixed = torch.where(pair, alpha.to(device=eye.device, dtype=dtype).mean(dim=1), 0.0) * 0.5 + 0.5 * eye
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rolled = mixed if rolled is None else mixed @ rolled
        scores.append(rolled[:, None])
    return scores, out.logits
