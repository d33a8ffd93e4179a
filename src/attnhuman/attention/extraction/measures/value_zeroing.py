"""Value zeroing (Mohebbi et al., 2023; docs/method.md, "Attention measures").

For layer ``l`` and token ``j``, block ``l`` is rerun on its input of the plain forward pass with token ``j``'s value
vectors zeroed in every head; ``VZ[i, j]`` is the cosine distance between block ``l``'s output for token ``i`` with and
without the zeroing (``i >= j``), rows renormalised to sum 1. Batched: the block input of one sequence is replicated
once per zeroed token, plus once unzeroed, and the block runs once per chunk of tokens. The unzeroed copy in the same
call is the reference, so an output that zeroing leaves untouched (a token outside a sliding window, a model without
values) compares bitwise equal and scores exactly 0 rather than rounding noise that renormalisation would inflate.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import Cache

from attnhuman.attention.extraction.measures.families import family, hidden_input, work_dtype

_BUDGET = 2 ** 25       # elements of (variants x T x hidden) per block call


def _replicate(value, b: int, batch: int, n: int):
    """``value`` for ``n`` copies of sequence ``b``: tensors with a leading batch axis are sliced and repeated (inside
    tuples, lists and dicts too), caches dropped, anything else (broadcast tensors, None, flags) kept."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value[b:b + 1].expand(n, *value.shape[1:]).contiguous()
    if isinstance(value, (tuple, list)):
        return type(value)(_replicate(v, b, batch, n) for v in value)
    if isinstance(value, dict):
        return {k: _replicate(v, b, batch, n) for k, v in value.items()}
    if isinstance(value, Cache):
        return None
    return value


def value_zeroing(model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer ``(B, 1, T, T)`` value-zeroing scores and the logits ``(B, T, V)`` of a causal LM on right-padded
    inputs. Rows are renormalised (a zero row stays zero); rows and columns at padded positions are meaningless."""
    fam = family(model, "value_zeroing")
    calls: dict[int, tuple[tuple, dict]] = {}

    def capture(layer):
        def hook(module, args, kwargs):
            calls[layer] = (args, kwargs)
        return hook

    handles = [block.register_forward_pre_hook(capture(layer), with_kwargs=True)
               for layer, block in enumerate(fam.blocks)]
    try:
        out = model(**inputs, use_cache=False)
    finally:
        for h in handles:
            h.remove()

    ids = inputs["input_ids"]
    batch, t = ids.shape
    lengths = inputs.get("attention_mask", torch.ones_like(ids)).sum(dim=-1).tolist()
    dtype = work_dtype(out.logits.dtype)
    step = max(1, _BUDGET // (t * fam.hidden) - 1)
    scores = []
    for layer, block in enumerate(fam.blocks):
        args, kwargs = calls[layer]
        device = hidden_input(args, kwargs).device
        vz = torch.zeros((batch, t, t), dtype=dtype, device=device)
        for b, n in enumerate(lengths):
            for start in range(0, int(n), step):
                js = torch.arange(start, min(start + step, int(n)), device=device)
                keep = torch.ones((len(js) + 1, t), dtype=dtype, device=device)     # variant 0: nothing zeroed
                keep[torch.arange(1, len(js) + 1, device=device), js] = 0
                handle = fam.zero_values(layer, keep)
                try:
                    res = block(*_replicate(args, b, batch, len(js) + 1), **_replicate(kwargs, b, batch, len(js) + 1))
                finally:
                    handle.remove()
                res = res[0] if isinstance(res, tuple) else res
                reference, zeroed = res[:1], res[1:]
                cosine = torch.nn.functional.cosine_similarity(zeroed.to(dtype), reference.to(dtype), dim=-1)
                distance = torch.where((zeroed != reference).any(dim=-1), (1 - cosine).clamp_min(0), 0)
                vz[b, :, js] = distance.T                                    # (rows i, columns j)
        vz = torch.tril(vz)
        sums = vz.sum(dim=-1, keepdim=True)
        scores.append((vz / torch.where(sums > 0, sums, 1))[:, None])
    return scores, out.logits
