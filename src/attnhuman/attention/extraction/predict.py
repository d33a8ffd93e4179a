"""A causal LM's predictions at each word, from the logits of the pass that gives its attention (docs/method.md,
"Reading times from model predictions"): word surprisal with the beginning-of-word correction and next-word entropy.

Token ``t``'s surprisal is ``-log p(t | t_<t)`` from the log-softmax of the logits at ``t - 1``; a word's tokens are
those of the attention's token -> word merge (a leading space belongs to the word it precedes), its surprisal their
sum. With ``bow`` (Pimentel & Meister, 2024), ``S_bow(w) = S(w) - log B(after w) + log B(before w)``, ``B(c)`` the
probability at context ``c`` of the tokens that start a word, and EOS. Entropy ``H(w)`` is that of the distribution at
the position before ``w``'s first token. Float64 throughout.
"""
from __future__ import annotations

import numpy as np
import torch

from attnhuman.errors import DataError

WORD_START_MARKERS = ("Ġ", "▁")       # byte-level BPE, SentencePiece


def word_starts(tokenizer, vocab_size: int) -> torch.Tensor:
    """``(vocab_size,)`` bool: the tokens that start a new word (their string begins with a word-start marker, or
    their text decoded alone begins with whitespace) and EOS; ids beyond the tokenizer's vocabulary are not."""
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    for token, i in tokenizer.get_vocab().items():
        if i < vocab_size and (token.startswith(WORD_START_MARKERS) or tokenizer.decode([i])[:1].isspace()):
            mask[i] = True
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id < vocab_size:
        mask[tokenizer.eos_token_id] = True
    return mask


def has_word_starts(tokenizer) -> bool:
    """Whether the tokenizer's word-initial tokens carry the space (``bow`` applies): any token begins with a
    word-start marker."""
    return any(token.startswith(WORD_START_MARKERS) for token in tokenizer.get_vocab())


def word_predictions(logits: torch.Tensor, ids: torch.Tensor, words: np.ndarray, n_words: int,
                     starts: torch.Tensor | None, after_text: bool = False,
                     entropy: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(surprisal, entropy)``, each ``(n_words,)`` float64, of one sequence (``entropy=False``: None for it).

    ``logits`` ``(T, vocab)`` and ``ids`` ``(T,)`` of its real tokens; ``words`` ``(T,)`` the word of each token (-1:
    none, e.g. BOS, a prefix or the preceding text); ``starts``: :func:`word_starts` for the correction, None for
    plain ``S(w)``. NaN where undefined: a word whose first token is the sequence's first, and with ``bow`` the unit's
    first word unless the unit is read ``after_text`` (``context=text``: the preceding units of its text).
    """
    logp = torch.log_softmax(logits.double(), dim=-1)                          # (T, V)
    token = torch.full((len(ids),), float("nan"), dtype=torch.float64, device=logp.device)
    token[1:] = -logp[:-1].gather(-1, ids[1:, None])[:, 0]                     # s(t), t >= 1
    tokens = np.flatnonzero(words >= 0)
    first, last = np.full(n_words, len(ids)), np.full(n_words, -1)
    np.minimum.at(first, words[tokens], tokens)
    np.maximum.at(last, words[tokens], tokens)
    owner = torch.from_numpy(words[tokens]).to(logp.device)
    surprisal = torch.zeros(n_words, dtype=torch.float64, device=logp.device).index_add_(0, owner, token[tokens])
    before = torch.from_numpy(np.maximum(first - 1, 0)).to(logp.device)
    defined = torch.from_numpy(first >= 1).to(logp.device)
    p = logp.exp()                                                             # (T, V), one pass for B and H
    if starts is not None:
        log_b = torch.log(p @ starts.to(logp.device, torch.float64))           # (T,) log B at each context
        surprisal = surprisal - log_b[torch.from_numpy(last).to(logp.device)] + log_b[before]
        defined[0] = defined[0] and after_text
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=logp.device)
    out = torch.where(defined, surprisal, nan).cpu().numpy()
    if not entropy:
        return out, None
    return out, torch.where(defined, -(p[before] * logp[before]).sum(-1), nan).cpu().numpy()


def lens_parts(model) -> tuple[list, torch.nn.Module]:
    """The decoder blocks and the final norm of a causal LM (llama, gemma3: ``layers`` and ``norm``; gpt2: ``h`` and
    ``ln_f``); DataError for another architecture."""
    base = model.base_model
    blocks = getattr(base, "layers", None) or getattr(base, "h", None)
    norm = getattr(base, "norm", None) or getattr(base, "ln_f", None)
    if blocks is None or norm is None:
        raise DataError(f"predictive.predictors=[lens]: the logit lens reads decoder blocks and a final norm "
                        f"(llama, gpt2 and gemma3 families); this model is "
                        f"{getattr(model.config, 'model_type', type(model).__name__)}. Leave lens out.")
    return list(blocks), norm


class LayerOutputs:
    """Each decoder block's output hidden states ``(B, T, hidden)`` of the forward pass run inside the ``with``
    block (hooks, removed on exit): the logit lens's input, from the pass that gives the attention."""

    def __init__(self, model):
        self.blocks, self.norm = lens_parts(model)
        self.head = model.get_output_embeddings()
        self.cap = getattr(model.config, "final_logit_softcapping", None)
        self.outputs: list[torch.Tensor | None] = [None] * len(self.blocks)

    def __enter__(self) -> "LayerOutputs":
        def keep(layer):
            def hook(module, args, out):
                if self.outputs[layer] is None:         # the first pass of a batch (a measure may run more)
                    self.outputs[layer] = (out[0] if isinstance(out, tuple) else out).detach()
            return hook
        self.handles = [b.register_forward_hook(keep(layer)) for layer, b in enumerate(self.blocks)]
        return self

    def reset(self) -> None:
        """Forget the last batch's outputs."""
        self.outputs = [None] * len(self.blocks)

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()

    def logits(self, b: int, rows: torch.Tensor) -> torch.Tensor:
        """``(layers, len(rows), vocab)``: the head on the final norm of every block's output at ``rows`` of
        sequence ``b`` (the last layer's are the model's own logits)."""
        hidden = torch.stack([h[b, rows.to(h.device)] for h in self.outputs])
        logits = self.head(self.norm(hidden))
        return torch.tanh(logits / self.cap) * self.cap if self.cap else logits


def lens_surprisal(lens_logits: torch.Tensor, ids: torch.Tensor, words: np.ndarray, n_words: int,
                   starts: torch.Tensor | None, after_text: bool = False) -> np.ndarray:
    """``(layers, n_words)``: :func:`word_predictions`'s surprisal from each layer's logits ``(layers, T, vocab)``."""
    return np.stack([word_predictions(layer, ids, words, n_words, starts, after_text, entropy=False)[0]
                     for layer in lens_logits])
