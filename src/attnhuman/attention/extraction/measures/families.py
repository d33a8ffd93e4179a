"""What the attention measures need to know of a causal LM's architecture, for the llama, gpt2 and gemma3 families.

LLaMA (SmolLM2 and other grouped-query models) and Gemma-3 text keep ``model.model.layers[l].self_attn`` with
``q_proj, k_proj, v_proj, o_proj`` Linear layers (weight ``(out, in)``); GPT-2 keeps ``model.transformer.h[l].attn``
with Conv1D ``c_attn`` (query, key, value side by side) and ``c_proj`` (weight ``(in, out)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attnhuman.errors import DataError

FAMILIES = {"llama": "llama", "gpt2": "gpt2", "gemma3_text": "gemma3"}     # config.model_type -> family


@dataclass(frozen=True)
class Family:
    """The decoder blocks and attention modules of a model and its head layout."""

    name: str
    blocks: list[nn.Module]
    attentions: list[nn.Module]
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden: int

    def value_weights(self, layer: int) -> torch.Tensor:
        """``(n_heads, hidden, head_dim)``: ``W_V^h`` of every query head (its shared value head under GQA)."""
        attn, dh = self.attentions[layer], self.head_dim
        if self.name == "gpt2":
            w = attn.c_attn.weight[:, 2 * self.hidden:3 * self.hidden]      # (hidden, heads * dh)
        else:
            w = attn.v_proj.weight.T                                         # (hidden, kv_heads * dh)
        per_kv = w.reshape(self.hidden, self.n_kv_heads, dh).permute(1, 0, 2)
        return per_kv.repeat_interleave(self.n_heads // self.n_kv_heads, dim=0)

    def output_weights(self, layer: int) -> torch.Tensor:
        """``(n_heads, head_dim, hidden)``: ``W_O^h``, the rows of the output projection that head ``h`` feeds."""
        attn = self.attentions[layer]
        w = attn.c_proj.weight if self.name == "gpt2" else attn.o_proj.weight.T     # (heads * dh, hidden)
        return w.reshape(self.n_heads, self.head_dim, -1)

    def zero_values(self, layer: int, keep: torch.Tensor):
        """Hook the value projection of ``layer``: value vectors times ``keep`` ``(N, T)`` (0 zeroes a token's values
        in every head). Returns the handle; ``.remove()`` it."""
        attn = self.attentions[layer]
        if self.name == "gpt2":
            def hook(module, args, out):
                scale = torch.ones_like(out)
                scale[..., 2 * self.hidden:] = keep[..., None].to(device=out.device, dtype=out.dtype)
                return out * scale
            return attn.c_attn.register_forward_hook(hook)
        return attn.v_proj.register_forward_hook(
            lambda module, args, out: out * keep[..., None].to(device=out.device, dtype=out.dtype))


def family(model, measure: str) -> Family:
    """The :class:`Family` of ``model``; :class:`DataError` for an architecture that ``measure`` does not support."""
    config = model.config
    model_type = getattr(config, "model_type", type(model).__name__)
    name = FAMILIES.get(model_type)
    if name is None:
        raise DataError(f"measure={measure} supports llama, gpt2, gemma3 families; this model is {model_type}.")
    if name == "gpt2":
        blocks = list(model.transformer.h)
        attentions = [b.attn for b in blocks]
        n_heads = n_kv = config.n_head
        hidden = config.n_embd
        head_dim = hidden // n_heads
    else:
        blocks = list(model.model.layers)
        attentions = [b.self_attn for b in blocks]
        n_heads, n_kv, hidden = config.num_attention_heads, config.num_key_value_heads, config.hidden_size
        head_dim = attentions[0].head_dim
    return Family(name, blocks, attentions, n_heads, n_kv, head_dim, hidden)


def attentions(model, out) -> list[torch.Tensor]:
    """The per-layer attention probabilities of a forward pass run with ``output_attentions=True``."""
    n_layers = model.config.num_hidden_layers
    if out.attentions is None or len(out.attentions) != n_layers or any(a is None for a in out.attentions):
        got = 0 if out.attentions is None else sum(a is not None for a in out.attentions)
        raise RuntimeError(f"the model returned attention for {got} of {n_layers} layers. Load it with "
                           "attn_implementation='eager' (SDPA and flash kernels return none).")
    return list(out.attentions)


def hidden_input(args: tuple, kwargs: dict) -> torch.Tensor:
    """The ``hidden_states`` argument of a call to an attention module or block (positional or keyword)."""
    return kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least float32 for the measures' arithmetic (float64 stays float64)."""
    return torch.promote_types(dtype, torch.float32)
