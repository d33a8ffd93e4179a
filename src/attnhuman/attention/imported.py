"""Imported predictions (``source=imported``; docs/method.md, "Reading times from model predictions"): a table of
token log-probabilities with character offsets, one text per story (an API model's, e.g. GPT-3 on Natural Stories),
merged into word surprisal on a corpus. Torch-free.

The table's columns: ``token`` (its text, leading space kept), ``logprob`` (natural log; empty where undefined: a
story's first token), ``offset`` (the token's character offset in its story's text), ``story`` (0-based: story ``s``
is the corpus's text ``s``). A story's text is its tokens concatenated; its words are the text's whitespace words,
and corpus unit ``k`` is text words ``text_starts[k]`` on of story ``article_of[k]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman import identity
from attnhuman.attention.extraction.align import token_words
from attnhuman.attention.predictors import WordPredictors
from attnhuman.attention.source import SourceOutput
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError

COLUMNS = ("token", "logprob", "offset", "story")


@dataclass(frozen=True)
class Story:
    """One story of the table: its text, its whitespace words and each word's surprisal ``(n_words,)`` (NaN where a
    token has no log-probability)."""

    words: list[str]
    surprisal: np.ndarray


def read_table(path: Path) -> pd.DataFrame:
    """The table's four columns (tokens as text, ``logprob`` NaN where empty); a missing column stops naming the
    file and the columns it has."""
    try:
        names = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot be read as a table ({type(e).__name__}: {str(e)[:200]}).") from e
    absent = [c for c in COLUMNS if c not in names]
    if absent:
        raise DataError(f"{path}: no column {', '.join(absent)}; its columns are {names}. An imported table needs "
                        f"the columns {', '.join(COLUMNS)} (docs/corpora.md, \"Natural Stories\").")
    frame = pd.read_csv(path, usecols=list(COLUMNS), dtype=str, keep_default_na=False, na_values=[])
    frame["row"] = np.arange(len(frame)) + 1
    for column in ("offset", "story"):
        frame[column] = _whole(frame, column, path)
    logprob = pd.to_numeric(frame.logprob, errors="coerce")        # empty: NaN
    bad = logprob.isna() & (frame.logprob != "")
    if bad.any():
        row = frame[bad].iloc[0]
        raise DataError(f"{path}, row {row.row}: story {row.story}, token {row.token!r}: logprob {row.logprob!r} is "
                        "not a number (leave it empty where there is none).")
    return frame.assign(logprob=logprob.to_numpy(dtype=np.float64))


def _whole(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values % 1 != 0)
    if bad.any():
        row = frame.iloc[int(np.argmax(bad))]
        raise DataError(f"{path}, row {row.row}: {column} {row[column]!r} of token {row.token!r} is not a whole "
                        "number >= 0.")
    return values.astype(np.int64)


def story_surprisal(tokens: list[str], logprob: np.ndarray, offsets: np.ndarray, where: str) -> Story:
    """One story's words and word surprisal ``S(w)`` = sum of ``-logprob`` of the word's tokens (a token's leading
    space, or a token of whitespace only, belongs to the word that follows: :func:`align.token_words`); each token's
    offset must be the length of the text before it (``where`` names the story in the error)."""
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    wrong = np.flatnonzero(offsets != starts)
    if wrong.size:
        t = int(wrong[0])
        raise DataError(f"{where}, token {t} ({tokens[t]!r}): offset {offsets[t]}, but the tokens before it make "
                        f"{starts[t]} characters; each offset must be the length of the story's text before the "
                        "token (a token missing or out of order?).")
    text = "".join(tokens)
    words = text.split()
    of_token = token_words(text, np.stack([starts, starts + lengths], axis=1))
    on_word = of_token >= 0
    surprisal = np.bincount(of_token[on_word], weights=-logprob[on_word], minlength=len(words))
    return Story(words, surprisal)      # NaN log-probabilities propagate to their word's sum


def read_stories(path: Path) -> list[Story]:
    """Each story of the table, in story order (0, 1, ...)."""
    frame = read_table(path)
    ids = sorted(frame.story.unique())
    if ids != list(range(len(ids))):
        raise DataError(f"{path}: stories {ids[:12]}; they must be numbered 0, 1, 2 ... (story s is the corpus's "
                        "text s).")
    return [story_surprisal(list(rows.token), rows.logprob.to_numpy(), rows.offset.to_numpy(), f"{path}: story {s}")
            for s, rows in frame.groupby("story", sort=True)]


def _around(words, at: int) -> str:
    return " ".join(words[max(0, at - 3):at + 3]) or "(nothing)"


def imported_predictions(path: Path, corpus: Corpus) -> WordPredictors:
    """``{"surprisal": (n_words,)}`` over the corpus's words, matched by position in each text; a word spelled
    differently in the imported text is kept by position and noted."""
    stories = read_stories(Path(path))
    if len(stories) != len(corpus.articles):
        raise DataError(f"{path}: {len(stories)} stories, the corpus {len(corpus.articles)} texts; story s must be "
                        "the corpus's text s. Give the predictions of this corpus's texts.")
    values, notes = [], []
    for k, words in enumerate(corpus.words):
        a, start = int(corpus.article_of[k]), int(corpus.text_starts[k])
        story, end = stories[a], start + len(words)
        if end > len(story.words):
            at = len(story.words)
            raise DataError(f"{path}: story {a} has {at} words, but unit {corpus.label(k)} needs words {start} to "
                            f"{end - 1}: around word {at} the imported text reads '{_around(story.words, at)}', the "
                            f"corpus '{_around(words, max(0, at - start))}'. Give the predictions of this corpus's "
                            "texts.")
        for i, (mine, theirs) in enumerate(zip(words, story.words[start:end])):
            if mine != theirs:
                notes.append((f"story {a + 1}, word {start + i + 1}",
                              f"the imported text has {theirs!r}, the corpus {mine!r}: kept by position; its length "
                              "and frequency are the corpus word's"))
        values.append(story.surprisal[start:end])
    return WordPredictors({"surprisal": np.concatenate(values)}, notes)


@dataclass(frozen=True)
class ImportedSource:
    """Predictions imported from a table (``source.path``): word surprisal, no attention."""

    path: Path
    cache_dir: Path | None = None       # remembers the file's hash
    gives = ("surprisal",)

    def unavailable(self, here: bool = True) -> list[str]:
        """The table, if it is not there."""
        if Path(self.path).is_file():
            return []
        return [f"{self.path}: no such table of token log-probabilities; set source.path to one (columns "
                f"{', '.join(COLUMNS)})."]

    def fingerprint(self) -> str:
        """What the predictions are: the table's contents."""
        return "imported:" + identity.of_files([self.path], self.cache_dir)

    def load(self, corpus: Corpus) -> SourceOutput:
        """No attention: the words' surprisal, merged from the table's tokens."""
        return SourceOutput(None, {"attention_input": f"{self.path} (predictions)"},
                            predictions=imported_predictions(self.path, corpus))

    def agree(self, decision):
        """One process reads a table: its own decision."""
        return decision
