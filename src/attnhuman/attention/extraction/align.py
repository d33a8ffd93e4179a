"""Token -> word alignment through character offsets (docs/method.md, "Model attention").

A token belongs to the word whose non-whitespace characters it overlaps; a token of whitespace
only (SmolLM2 emits "Ġ" alone before digits, SentencePiece a lone "▁") belongs to the word that
follows it. Special tokens (BOS, padding: empty offsets) and tokens outside the span belong to
no word. Works for SentencePiece, byte-level BPE and WordPiece tokenizers, with or without BOS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnhuman.errors import DataError


def word_of_char(text: str, start: int = 0) -> np.ndarray:
    """``(len(text),)`` word index of each character from ``start`` on; -1 for whitespace and before ``start``."""
    index = np.full(len(text), -1, dtype=np.int64)
    word = -1
    inside = False
    for position in range(start, len(text)):
        if text[position].isspace():
            inside = False
        else:
            if not inside:
                word += 1
                inside = True
            index[position] = word
    return index


def token_words(text: str, offsets: np.ndarray, span_start: int = 0) -> np.ndarray:
    """``(n_tokens,)`` word of each token within ``text[span_start:]``, -1 for none.

    ``offsets``: ``(n_tokens, 2)`` character ``[start, end)`` of each token in ``text``.
    """
    chars = word_of_char(text, span_start)
    n_words = chars.max() + 1
    out = np.full(len(offsets), -1, dtype=np.int64)
    pending = []                       # whitespace-only tokens waiting for the next word
    for t, (start, end) in enumerate(np.asarray(offsets)):
        if end <= start:
            continue                   # special token
        words = chars[start:end]
        words = words[words >= 0]
        if words.size:
            out[t] = words[0]
            out[pending] = words[0]
            pending = []
        elif end > span_start and text[max(start, span_start):end].isspace():
            pending.append(t)
    if pending and n_words:
        out[pending] = n_words - 1      # trailing whitespace: attach to the last word
    return out


def merge_matrix(words: np.ndarray, n_words: int) -> np.ndarray:
    """``(n_words, n_tokens)`` 0/1 matrix: row w marks the tokens of word w."""
    merge = np.zeros((n_words, len(words)))
    tokens = np.flatnonzero(words >= 0)
    merge[words[tokens], tokens] = 1.0
    missing = np.flatnonzero(merge.sum(axis=1) == 0)
    if missing.size:
        raise DataError(f"words {missing.tolist()} received no token: the tokenizer's offsets do not cover them.")
    return merge



@dataclass
class AlignmentStats:
    """Per-run alignment summary, accumulated over sentences."""

    tokens: int = 0
    words: int = 0
    words_split: int = 0
    longest_word_tokens: int = 0

    def add(self, words: np.ndarray, text_words: list[str]) -> None:
        counts = np.bincount(words[words >= 0], minlength=len(text_words))
        self.tokens += int(counts.sum())
        self.words += len(text_words)
        self.words_split += int((counts > 1).sum())
        self.longest_word_tokens = max(self.longest_word_tokens, int(counts.max()))

    def merge(self, other: "AlignmentStats") -> None:
        """Add another part's counts (a resumed extraction's finished chunks)."""
        self.tokens += other.tokens
        self.words += other.words
        self.words_split += other.words_split
        self.longest_word_tokens = max(self.longest_word_tokens, other.longest_word_tokens)

    def as_metrics(self) -> dict[str, float]:
        return {"align_tokens_per_word": self.tokens / max(self.words, 1),
                "align_words_split": self.words_split,
                "align_words_split_frac": self.words_split / max(self.words, 1),
                "align_longest_word_tokens": self.longest_word_tokens}
