"""Reading times per word, the targets of predictive power (docs/method.md, "Reading times from model predictions").

A source of human data gives, per group, one :class:`ReadingTimes` per reading measure it holds (eye tracking: first
fixation, gaze duration, go-past, total reading time; self-paced reading: the reading time). The paradigm sets the
defaults of the analysis: spillover words and the valid range of an observation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnhuman.errors import ConfigError

# paradigm -> (spillover words, min_ms, max_ms) (docs/method.md, "Reading times from model predictions")
PARADIGMS = {"eye_tracking": (1, 50.0, 3000.0), "self_paced": (2, 100.0, 3000.0)}


@dataclass(frozen=True)
class ReadingTimes:
    """One group's reading times (ms) for one measure: ``values[k]`` is ``(n_rows, n_words_k)`` for corpus unit
    ``k``, NaN where there is no observation (a skipped word, a unit not read). The rows are the readers
    (``subjects``), or, for a corpus that publishes only per-word means (``means=True``), one row of those means."""

    group: str
    measure: str
    paradigm: str
    subjects: list[str]
    values: list[np.ndarray]
    means: bool = False

    def __post_init__(self):
        if self.paradigm not in PARADIGMS:
            raise ConfigError(f"paradigm={self.paradigm!r}: choose one of {', '.join(PARADIGMS)}.")

    def flat(self) -> np.ndarray:
        """``(n_rows, n_words)`` over the corpus's words in order (:attr:`attnhuman.corpus.Corpus.word_offsets`)."""
        return np.concatenate(self.values, axis=1) if self.values else np.zeros((len(self.subjects), 0))
