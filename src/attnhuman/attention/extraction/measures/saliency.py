"""Gradient x input saliency (docs/method.md, "Attention measures").

For position ``i`` the target is the log-probability of the next token of the sentence (at the last real position:
of the model's own top prediction). ``S[i, j] = || grad_{e_j} target_i * e_j ||_2`` over the input embeddings
``e_j = model.get_input_embeddings()(input_ids)`` (so Gemma's scaled embeddings are the ones fed to the model),
``j <= i``, rows renormalised to sum 1. One forward pass per batch; the gradients of all targets come from one
backward through the output head, then a batched (vmapped) backward through the body, chunked over positions.
"""
from __future__ import annotations

import torch

from attnhuman.errors import DataError

_CHUNK = 32     # positions per batched backward (bounds the memory of the vmapped backward)


def _targets(logits: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) log-probabilities: of ``ids[:, i + 1]`` before the last real position, of the argmax from it on."""
    logp = torch.log_softmax(logits.float() if logits.dtype != torch.float64 else logits, dim=-1)
    t = ids.shape[1]
    positions = torch.arange(t, device=ids.device)
    following = torch.cat([ids[:, 1:], ids[:, -1:]], dim=1)
    own = logits.detach().argmax(dim=-1)
    chosen = torch.where(positions[None, :] < (lengths[:, None] - 1), following, own)
    return logp.gather(-1, chosen[..., None])[..., 0]


def _looped(hidden: torch.Tensor, embeds: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """The batched backward of ``_row_grads`` as one backward per seed."""
    return torch.stack([torch.autograd.grad(hidden, embeds, grad_outputs=s, retain_graph=True)[0] for s in seeds])


def _row_grads(hidden: torch.Tensor, embeds: torch.Tensor, head_grads: torch.Tensor) -> torch.Tensor:
    """(T, B, T, H): d target_i / d e_j for every row ``i``, given d target_i / d hidden_i (B, T, H)."""
    t = hidden.shape[1]
    out = []
    for start in range(0, t, _CHUNK):
        rows = torch.arange(start, min(start + _CHUNK, t), device=hidden.device)
        seeds = torch.zeros((len(rows), *hidden.shape), dtype=hidden.dtype, device=hidden.device)
        seeds[torch.arange(len(rows)), :, rows, :] = head_grads[:, rows, :].transpose(0, 1)
        try:
            (grads,) = torch.autograd.grad(hidden, embeds, grad_outputs=seeds, retain_graph=True,
                                           is_grads_batched=True)
        except RuntimeError:    # an operation without a batching rule: one backward per position
            grads = _looped(hidden, embeds, seeds)
        out.append(grads)
    return torch.cat(out)


def saliency(model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Gradient x input scores ``[(B, 1, T, T)]`` and the logits ``(B, T, V)`` of a causal LM on right-padded inputs.

    Rows are renormalised (a zero row stays zero); rows and columns at padded positions are meaningless. Works under
    an outer ``torch.inference_mode()``; leaves the parameters without ``.grad`` and the model's mode unchanged.
    """
    if "input_ids" not in inputs:
        raise DataError("saliency needs 'input_ids' (and 'attention_mask') from the tokenizer.")
    with torch.inference_mode(False), torch.enable_grad():
        ids = inputs["input_ids"].clone()
        mask = inputs["attention_mask"].clone() if "attention_mask" in inputs else torch.ones_like(ids)
        embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        out = model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True, use_cache=False)
        logits, hidden = out.logits, out.hidden_states[-1]
        targets = _targets(logits, ids, mask.sum(dim=1))
        # only position-wise operations (final norm already applied, head, softcap) follow `hidden`
        (head_grads,) = torch.autograd.grad(targets.sum(), hidden, retain_graph=True)
        grads = _row_grads(hidden, embeds, head_grads)           # (T_i, B, T_j, H)
        dtype = torch.promote_types(embeds.dtype, torch.float32)
        scores = (grads.to(dtype) * embeds.detach().to(dtype)[None]).norm(dim=-1).permute(1, 0, 2)    # (B, T_i, T_j)
        del out, hidden, targets, grads
    t = ids.shape[1]
    scores = scores * torch.ones(t, t, dtype=torch.bool, device=scores.device).tril()
    total = scores.sum(dim=-1, keepdim=True)
    scores = torch.where(total > 0, scores / torch.where(total > 0, total, 1), 0)
    return [scores[:, None]], logits.detach()
