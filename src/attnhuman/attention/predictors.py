"""What a model predicts at each word of a corpus (docs/method.md, "Reading times from model predictions"): torch-free
arrays, flat over the corpus's words in order (unit ``k``'s words are ``corpus.word_offsets[k]:[k + 1]``), natural
logarithms, NaN where a predictor is undefined (a unit's first word for surprisal with the beginning-of-word
correction, the first word of a text without a preceding token)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PREDICTORS = ("surprisal", "entropy", "lens", "attention_entropy")      # what `predictors=` may name
PER_LAYER = ("lens", "attention_entropy")                               # (layers, n_words) arrays


@dataclass(frozen=True)
class WordPredictors:
    """Each predictor the source gives: ``values["surprisal"]`` and ``values["entropy"]`` ``(n_words,)``,
    ``values["lens"]`` (logit-lens surprisal) and ``values["attention_entropy"]`` ``(layers, n_words)``; ``notes``:
    ``(item, reason)`` of what the source says about its words (a word spelled differently in an imported text), for
    the exclusion report."""

    values: dict[str, np.ndarray]
    notes: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        unknown = set(self.values) - set(PREDICTORS)
        if unknown:
            raise ValueError(f"unknown predictors {sorted(unknown)}; known: {PREDICTORS}")
