"""Norm-based attention (Kobayashi et al., 2020; docs/method.md, "Attention measures").

``score[b, h, i, j] = alpha[b, h, i, j] * || (x_j W_V^h) W_O^h ||_2`` with ``x`` the input of the attention module
(after the block's input layer norm), value and output biases left out; grouped-query heads use their shared value
head.
"""
from __future__ import annotations

import torch

from attnhuman.attention.extraction.measures.families import attentions, family, hidden_input, work_dtype


def norm(model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer ``(B, heads, T, T)`` norm-weighted attention and the logits ``(B, T, V)`` of a causal LM."""
    fam = family(model, "norm")
    xs: dict[int, torch.Tensor] = {}

    def capture(layer):
        def hook(module, args, kwargs):
            xs[layer] = hidden_input(args, kwargs)
        return hook

    handles = [a.register_forward_pre_hook(capture(layer), with_kwargs=True) for layer, a in enumerate(fam.attentions)]
    try:
        out = model(**inputs, output_attentions=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    scores = []
    for layer, alpha in enumerate(attentions(model, out)):
        dtype = work_dtype(xs[layer].dtype)
        values = torch.einsum("bte,hed->bhtd", xs[layer].to(dtype), fam.value_weights(layer).to(dtype))
        sent = torch.einsum("bhtd,hdf->bhtf", values, fam.output_weights(layer).to(dtype))   # (B, H, T, hidden)
        scores.append(alpha.to(dtype) * torch.linalg.vector_norm(sent, dim=-1)[:, :, None, :])
    return scores, out.logits
