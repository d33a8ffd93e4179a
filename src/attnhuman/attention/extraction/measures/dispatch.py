"""One forward (and whatever a measure adds) over a batch: the measure's token-level scores and the logits."""
from __future__ import annotations

import torch

from attnhuman.attention.extraction.measures import check
from attnhuman.attention.extraction.measures.norm import norm
from attnhuman.attention.extraction.measures.rollout import rollout
from attnhuman.attention.extraction.measures.saliency import saliency
from attnhuman.attention.extraction.measures.value_zeroing import value_zeroing


def weights(model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The attention probabilities (eager attention returns one tensor per layer)."""
    out = model(**inputs, output_attentions=True)
    n_layers = model.config.num_hidden_layers
    if out.attentions is None or len(out.attentions) != n_layers or any(a is None for a in out.attentions):
        got = 0 if out.attentions is None else sum(a is not None for a in out.attentions)
        raise RuntimeError(f"the model returned attention for {got} of {n_layers} layers. Load it with "
                           "attn_implementation='eager' (SDPA and flash kernels return none).")
    return list(out.attentions), out.logits


FUNCTIONS = {"weights": weights, "norm": norm, "rollout": rollout, "value_zeroing": value_zeroing,
             "saliency": saliency}


def token_scores(measure: str, model, inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer ``(batch, heads, T, T)`` scores of ``measure`` and the logits ``(batch, T, vocab)``."""
    return FUNCTIONS[check(measure)](model, inputs)
