"""The stimulus corpus and the shared cell index (docs/method.md, "Corpus and cells").

Every word-by-word matrix of a sentence with ``n`` words is reduced to its lower triangle
including the diagonal, in ``numpy.tril_indices(n)`` order; the cells of all sentences are
concatenated in corpus order. All analyses work on ``(features, cells)`` arrays on this index.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from attnhuman.errors import DataError

DEMO_CORPUS = "demo_corpus.txt"


def n_cells(n_words: np.ndarray) -> np.ndarray:
    """Cells per sentence: ``n (n + 1) / 2`` for ``n`` words."""
    n_words = np.asarray(n_words, dtype=np.int64)
    return n_words * (n_words + 1) // 2


def cell_offsets(n_words: np.ndarray) -> np.ndarray:
    """``(n_sentences + 1,)`` offsets: sentence ``k`` owns cells ``offsets[k]:offsets[k + 1]``."""
    return np.concatenate([[0], np.cumsum(n_cells(n_words))])


def tril_cells(n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sentence, row, col)`` of every cell, each ``(n_cells,)``, in corpus order."""
    sent, rows, cols = [], [], []
    for k, n in enumerate(np.asarray(n_words)):
        i, j = np.tril_indices(int(n))
        sent.append(np.full(i.size, k))
        rows.append(i)
        cols.append(j)
    return np.concatenate(sent), np.concatenate(rows), np.concatenate(cols)


@dataclass(frozen=True)
class Corpus:
    """Sentences (units: a sentence or a paragraph) grouped in articles; words are whitespace tokens (punctuation
    attached). ``names``: the units' own ids in the source data (GECO sentence ids, EyeLink paragraph ids)."""

    articles: tuple[tuple[str, ...], ...]
    names: tuple[str, ...] | None = None
    starts: tuple[int, ...] | None = None     # each unit's first word's 0-based position in its article's full text,
                                              # where left-out units leave gaps (None: units follow each other)

    @classmethod
    def from_text(cls, path: Path) -> "Corpus":
        """Read one sentence per line, articles separated by blank lines."""
        blocks, current = [], []
        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise DataError(f"{path}, line {line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start}); "
                            "save the file as UTF-8.") from e
        for line in text.splitlines():
            if line.strip():
                current.append(line.strip())
            elif current:
                blocks.append(tuple(current))
                current = []
        if current:
            blocks.append(tuple(current))
        if not blocks:
            raise DataError(f"{path}: no sentences found (expected one sentence per line, "
                             "articles separated by blank lines)")
        return cls(tuple(blocks))

    @cached_property
    def sentences(self) -> tuple[str, ...]:
        return tuple(s for article in self.articles for s in article)

    @cached_property
    def words(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(s.split()) for s in self.sentences)

    @cached_property
    def n_words(self) -> np.ndarray:
        return np.array([len(w) for w in self.words], dtype=np.int64)

    @cached_property
    def word_offsets(self) -> np.ndarray:
        """``(n_sentences + 1,)``: sentence ``k``'s words are flat words ``word_offsets[k]:word_offsets[k + 1]``."""
        return np.concatenate([[0], np.cumsum(self.n_words)]).astype(np.int64)

    @cached_property
    def article_of(self) -> np.ndarray:
        """``(n_sentences,)`` the article (text) of each sentence."""
        return np.repeat(np.arange(len(self.articles)), self.sentences_per_article)

    @cached_property
    def text_starts(self) -> np.ndarray:
        """``(n_sentences,)`` each sentence's first word's position in its article's text (:attr:`starts`, else the
        words of the article's earlier sentences)."""
        if self.starts is not None:
            return np.asarray(self.starts, dtype=np.int64)
        before = self.word_offsets[:-1]
        first = np.concatenate([[0], np.cumsum(self.sentences_per_article)])[:-1]
        return before - np.repeat(before[first], self.sentences_per_article)

    @cached_property
    def sentences_per_article(self) -> np.ndarray:
        return np.array([len(a) for a in self.articles], dtype=np.int64)

    @cached_property
    def offsets(self) -> np.ndarray:
        return cell_offsets(self.n_words)

    @property
    def n_cells(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.sentences)

    def position(self, k: int) -> tuple[int, int]:
        """``(article, sentence within article)`` of corpus sentence ``k`` (both 0-based)."""
        starts = np.cumsum(np.concatenate([[0], self.sentences_per_article]))
        article = int(np.searchsorted(starts, k, side="right") - 1)
        return article, int(k - starts[article])

    def label(self, k: int) -> str:
        """Human-readable sentence id, e.g. ``#77 (article 2, sentence 15)``, or ``#77 (unit 2-14)`` when named."""
        if self.names is not None:
            return f"#{k} (unit {self.names[k]})"
        a, s = self.position(k)
        return f"#{k} (article {a}, sentence {s})"

    def cell_mask(self, keep: np.ndarray) -> np.ndarray:
        """``(n_cells,)`` bool mask of the cells of the sentences where ``keep`` is true."""
        return np.repeat(np.asarray(keep, dtype=bool), n_cells(self.n_words))


def demo_corpus() -> Corpus:
    """The small original corpus shipped as package data (3 articles, 20 sentences)."""
    with resources.as_file(resources.files("attnhuman") / "resources" / DEMO_CORPUS) as path:
        return Corpus.from_text(Path(path))
