"""Word-level attention and next-token loss of a causal LM on a corpus, batched (docs/method.md, "Model attention").

Sentences are run one per sequence (as people read them, one at a time), batched with right
padding so that no real token attends to padding and positions equal the unbatched ones. For a
prefix, the model reads ``prefix + " " + sentence``; the sentence's token rows and columns are
kept and each row is renormalized to sum 1. Without a prefix, BOS is dropped and rows are NOT
renormalized. Tokens are merged into words (columns summed, rows averaged).

With ``chunks`` (:class:`attnhuman.attention.extraction.cache.ChunkStore`), every ``chunk_size`` finished sentences
are saved as they complete, and sentences of chunks saved by an earlier, interrupted run (a preempted
or requeued job) are not computed again.
"""
from __future__ import annotations

import resource
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from attnhuman.attention.extraction.align import AlignmentStats, merge_matrix, token_words
from attnhuman.attention.extraction.measures.dispatch import token_scores
from attnhuman.attention.extraction.predict import (
    LayerOutputs,
    has_word_starts,
    lens_surprisal,
    word_predictions,
    word_starts,
)
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError

PREDICTED = ("surprisal", "entropy")       # what every extraction predicts per word


@dataclass
class Extraction:
    """A run's attention store, its per-sentence losses (``nll``: mean token NLL, nats) and what the model predicts
    at each word (``predictors``: ``{"surprisal", "entropy"}`` -> ``(n_words,)`` flat over the corpus's words)."""

    store: AttentionStore
    nll: np.ndarray            # (n_sentences,)
    n_tokens: np.ndarray       # (n_sentences,) sentence tokens (prefix and BOS excluded)
    predictors: dict[str, np.ndarray] = field(default_factory=dict)
    alignment: dict = field(default_factory=dict)
    extract_s: float = 0.0
    cached: bool = False

    @property
    def ntp_loss(self) -> float:
        """Mean over sentences of the mean token negative log-likelihood (nats)."""
        return float(self.nll.mean())

    @property
    def ntp_loss_per_len(self) -> float:
        """The same divided once more by each sentence's token count (paper Table 1 scale)."""
        return float((self.nll / self.n_tokens).mean())


@dataclass
class Chunk:
    """Finished sentences of an extraction: their cells (in ``sentences`` order), losses, word predictions and
    alignment counts."""

    sentences: np.ndarray      # (k,) sentence indices
    attention: np.ndarray      # (layers, heads, cells of those sentences)
    nll: np.ndarray            # (k,)
    n_tokens: np.ndarray       # (k,)
    alignment: AlignmentStats
    seconds: float             # time spent on them
    predictors: dict[str, np.ndarray] = field(default_factory=dict)    # (words of those sentences,) each


class Chunks(Protocol):
    def finished(self) -> list[Chunk]: ...
    def save(self, chunk: Chunk) -> None: ...


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _right_padding(tokenizer) -> None:
    """Pad on the right (positions stay those of the unbatched inputs), with EOS where there is no pad token."""
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _unpredicted(corpus: Corpus, lens_layers: int | None) -> dict[str, np.ndarray]:
    """NaN arrays for each word's predictions: :data:`PREDICTED` ``(n_words,)``, and ``lens`` ``(layers, n_words)``
    when ``lens_layers`` is given."""
    n = int(corpus.word_offsets[-1])
    out = {name: np.full(n, np.nan) for name in PREDICTED}
    if lens_layers is not None:
        out["lens"] = np.full((lens_layers, n), np.nan)
    return out


def model_inputs(corpus: Corpus, prefix: str) -> tuple[list[str], int]:
    """Texts the model reads and where the sentence starts in each."""
    if not prefix:
        return list(corpus.sentences), 0
    return [f"{prefix} {s}" for s in corpus.sentences], len(prefix) + 1


def extract(model, tokenizer, corpus: Corpus, prefix: str = "", batch_size: int = 8,
            progress: bool = True, chunks: Chunks | None = None, chunk_size: int = 256,
            measure: str = "weights", lens: bool = False) -> Extraction:
    """Every layer and head of word attention, ``(layers, heads, cells)`` float32, plus NTP loss and each word's
    surprisal and entropy (:mod:`attnhuman.attention.extraction.predict`; with the beginning-of-word correction when
    the tokenizer's word-initial tokens carry the space).

    ``heads`` are the heads the model returns: all of them, or a tensor-parallel shard's own. ``measure``
    (docs/method.md, "Attention measures") says what the token-level scores merged into words are: the weights by default.
    ``lens``: also each layer's surprisal through the logit lens (``predictors["lens"]``, ``(layers, n_words)``), from
    the blocks' outputs of the same forward pass.
    """
    texts, span_start = model_inputs(corpus, prefix)
    check_context(model.config, tokenizer, texts, corpus)
    _right_padding(tokenizer)
    attention = None     # (layers, heads, cells): heads as returned (a tensor-parallel rank's share)
    nll = np.zeros(len(corpus))
    n_tokens = np.zeros(len(corpus), dtype=np.int64)
    predicted_words = _unpredicted(corpus, model.config.num_hidden_layers if lens else None)
    bow, starts = has_word_starts(tokenizer), None
    stats = AlignmentStats()
    done, earlier_s = np.zeros(len(corpus), dtype=bool), 0.0
    for chunk in chunks.finished() if chunks is not None else []:
        if attention is None:
            attention = np.zeros((chunk.attention.shape[0], chunk.attention.shape[1], corpus.n_cells),
                                 dtype=np.float32)
        attention[:, :, _cells(corpus, chunk.sentences)] = chunk.attention
        nll[chunk.sentences], n_tokens[chunk.sentences] = chunk.nll, chunk.n_tokens
        for name, values in predicted_words.items():
            values[..., _words(corpus, chunk.sentences)] = chunk.predictors[name]
        stats.merge(chunk.alignment)
        done[chunk.sentences] = True
        earlier_s += chunk.seconds
    device = next(model.parameters()).device
    order = np.array([k for k in np.argsort([len(t) for t in texts], kind="stable") if not done[k]], dtype=np.int64)
    start, unsaved, part = time.perf_counter(), [], AlignmentStats()     # similar lengths share a batch
    saved_at = start
    layer_outputs = LayerOutputs(model) if lens else nullcontext()
    with torch.inference_mode(), layer_outputs, tqdm(total=len(texts), initial=int(done.sum()), desc="sentences",
                                                     disable=not progress) as bar:
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            enc = tokenizer([texts[k] for k in batch], return_offsets_mapping=True, padding=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").numpy()
            if lens:
                layer_outputs.reset()
            layers, logits = token_scores(measure, model, {k: v.to(device) for k, v in enc.items()})
            if attention is None:
                attention = np.zeros((len(layers), layers[0].shape[1], corpus.n_cells), dtype=np.float32)
            if bow and starts is None:
                starts = word_starts(tokenizer, logits.shape[-1])
            for b, k in enumerate(batch):
                real = int(enc["attention_mask"][b].sum())
                words = token_words(texts[k], offsets[b, :real], span_start)
                span = np.flatnonzero(words >= 0)
                text_words = list(corpus.words[k])
                merge = torch.from_numpy(merge_matrix(words[span], len(text_words)))
                idx = torch.from_numpy(span).to(device)
                tokens = torch.stack([a[b].index_select(-2, idx).index_select(-1, idx) for a in layers]).double().cpu()
                if prefix:
                    tokens = tokens / tokens.sum(dim=-1, keepdim=True)
                word = (merge / merge.sum(1, keepdim=True)) @ tokens @ merge.T          # (L, H, n, n)
                rows, cols = np.tril_indices(len(text_words))
                attention[:, :, corpus.offsets[k]:corpus.offsets[k + 1]] = word[:, :, rows, cols].numpy()
                predicted = span[span > 0]                       # tokens with a left context
                ids = enc["input_ids"][b, predicted].to(device)
                rows_logits = logits[b, torch.from_numpy(predicted - 1).to(device)].float()   # only needed rows
                token_nll = torch.logsumexp(rows_logits, -1) - rows_logits.gather(-1, ids[:, None])[:, 0]
                nll[k] = float(token_nll.mean())
                at, low = slice(corpus.word_offsets[k], corpus.word_offsets[k + 1]), max(int(span[0]) - 1, 0)
                ids = enc["input_ids"][b, low:real].to(device)
                predicted_words["surprisal"][at], predicted_words["entropy"][at] = word_predictions(
                    logits[b, low:real], ids, words[low:], len(text_words), starts)
                if lens:
                    predicted_words["lens"][:, at] = lens_surprisal(
                        layer_outputs.logits(b, torch.arange(low, real)), ids, words[low:], len(text_words), starts)
                n_tokens[k] = len(span)
                stats.add(words[span], text_words)
                part.add(words[span], text_words)
            bar.update(len(batch))
            unsaved += batch.tolist()
            if chunks is not None and (len(unsaved) >= chunk_size or first + batch_size >= len(order)):
                sentences = np.array(unsaved, dtype=np.int64)
                now = time.perf_counter()
                chunks.save(Chunk(sentences, attention[:, :, _cells(corpus, sentences)], nll[sentences],
                                  n_tokens[sentences], part, now - saved_at,
                                  {name: a[..., _words(corpus, sentences)] for name, a in predicted_words.items()}))
                unsaved, part, saved_at = [], AlignmentStats(), now
    store = AttentionStore(attention, corpus.n_words.copy(), corpus.sentences_per_article.copy())
    return Extraction(store, nll, n_tokens, predicted_words, stats.as_metrics(),
                      earlier_s + time.perf_counter() - start)


def text_inputs(tokenizer, corpus: Corpus, prefix: str, max_context: int) -> list[tuple[str, int, bool]]:
    """Per unit, for ``context=text``: the text the model reads (the prefix, then as many whole preceding units of its
    article as fit with it in ``max_context`` tokens, then the unit), where the unit starts, and whether text precedes
    it. Token counts are those of each unit tokenized alone (special tokens included: an overestimate)."""
    lengths = [len(ids) for ids in tokenizer(list(corpus.sentences))["input_ids"]]
    budget_all = max_context - (len(tokenizer(prefix)["input_ids"]) if prefix else 0)
    first_of = np.concatenate([[0], np.cumsum(corpus.sentences_per_article)])[corpus.article_of]
    out = []
    for k, sentence in enumerate(corpus.sentences):
        start, budget = k, budget_all - lengths[k]
        if budget < 0:
            raise DataError(f"context.max_context={max_context}: unit {corpus.label(k)} alone has {lengths[k]} tokens "
                            f"(prefix aside); raise context.max_context, or use context=unit.")
        while start > first_of[k] and lengths[start - 1] <= budget:
            budget -= lengths[start - 1]
            start -= 1
        head = " ".join(x for x in (prefix, *corpus.sentences[start:k]) if x)
        out.append((f"{head} {sentence}" if head else sentence, len(head) + 1 if head else 0, start < k))
    return out


def unit_logits(model, inputs: dict[str, torch.Tensor], rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """The logits ``(len(rows[b]), vocab)`` of sequence ``b`` at ``rows[b]`` only: the body's last hidden states
    (final norm included) through the output embedding (and Gemma's soft cap), as the model's own head computes them;
    a long text's other rows never meet the vocabulary."""
    hidden = model.base_model(**inputs).last_hidden_state
    head, cap = model.get_output_embeddings(), getattr(model.config, "final_logit_softcapping", None)
    out = []
    for b, r in enumerate(rows):
        logits = head(hidden[b, r.to(hidden.device)])
        out.append(torch.tanh(logits / cap) * cap if cap else logits)
    return out


@contextmanager
def fused_attention(model):
    """The model with PyTorch's fused attention (SDPA) inside the block, eager again after: a pass that needs no
    attention weights (``context=text``, texts of up to ``max_context`` tokens) need not build them."""
    eager = model.config._attn_implementation
    try:
        model.set_attn_implementation("sdpa")
    except (ValueError, ImportError):        # an architecture without SDPA: eager it stays
        yield model
        return
    try:
        yield model
    finally:
        model.set_attn_implementation(eager)


def text_predictions(model, tokenizer, corpus: Corpus, prefix: str = "", max_context: int = 1024,
                     batch_size: int = 8, progress: bool = True, lens: bool = False) -> dict[str, np.ndarray]:
    """Each word's surprisal and entropy with ``context=text`` (:func:`text_inputs`): a pass of its own, logits only;
    ``{"surprisal", "entropy"}`` -> ``(n_words,)``, and with ``lens`` ``"lens"`` -> ``(layers, n_words)``."""
    inputs = text_inputs(tokenizer, corpus, prefix, max_context)
    texts = [text for text, _, _ in inputs]
    check_context(model.config, tokenizer, texts, corpus)
    _right_padding(tokenizer)
    out = _unpredicted(corpus, model.config.num_hidden_layers if lens else None)
    starts = None
    device = next(model.parameters()).device
    order = np.argsort([len(t) for t in texts], kind="stable")
    layer_outputs = LayerOutputs(model) if lens else nullcontext()
    with torch.inference_mode(), layer_outputs, fused_attention(model), tqdm(
            total=len(texts), desc="units in their text", disable=not progress) as bar:
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            enc = tokenizer([texts[k] for k in batch], return_offsets_mapping=True, padding=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").numpy()
            real = enc["attention_mask"].sum(dim=1).tolist()
            words = [token_words(texts[k], offsets[b, :real[b]], inputs[k][1]) for b, k in enumerate(batch)]
            low = [max(int(np.flatnonzero(w >= 0)[0]) - 1, 0) for w in words]       # the unit's rows, and one before
            if lens:
                layer_outputs.reset()
            logits = unit_logits(model, {k: v.to(device) for k, v in enc.items()},
                                 [torch.arange(lo, n) for lo, n in zip(low, real)])
            if starts is None and has_word_starts(tokenizer):
                starts = word_starts(tokenizer, logits[0].shape[-1])
            for b, k in enumerate(batch):
                at = slice(corpus.word_offsets[k], corpus.word_offsets[k + 1])
                ids = enc["input_ids"][b, low[b]:real[b]].to(device)
                out["surprisal"][at], out["entropy"][at] = word_predictions(
                    logits[b], ids, words[b][low[b]:], len(corpus.words[k]), starts, inputs[k][2])
                if lens:
                    out["lens"][:, at] = lens_surprisal(layer_outputs.logits(b, torch.arange(low[b], real[b])), ids,
                                                        words[b][low[b]:], len(corpus.words[k]), starts, inputs[k][2])
            bar.update(len(batch))
    return out


def _cells(corpus: Corpus, sentences: np.ndarray) -> np.ndarray:
    """The cell indices of ``sentences``, sentence after sentence."""
    return np.concatenate([np.arange(corpus.offsets[k], corpus.offsets[k + 1]) for k in sentences])


def _words(corpus: Corpus, sentences: np.ndarray) -> np.ndarray:
    """The flat word indices of ``sentences``, sentence after sentence."""
    return np.concatenate([np.arange(corpus.word_offsets[k], corpus.word_offsets[k + 1]) for k in sentences])


def check_context(config, tokenizer, texts: list[str], corpus: Corpus) -> None:
    """Raise DataError when an input is longer than the model's context: it is never cut to fit."""
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if not limit:
        return
    lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
    too_long = np.flatnonzero(lengths > limit)
    if too_long.size:
        k = int(too_long[0])
        raise DataError(f"{too_long.size} of {len(texts)} inputs are longer than the model's context of {limit} "
                        f"tokens; first: sentence {corpus.label(k)} with {lengths[k]} tokens (prefix included). "
                        "Each sentence is read whole, never cut: shorten it or choose a model with a longer context.")
