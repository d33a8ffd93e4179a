"""Psychometric predictive power: how much a model's predictions add to length and frequency in explaining reading
times (docs/method.md, "Reading times from model predictions").

Per word ``w`` analysed, the baseline regression has an intercept, length, log frequency, their product, the position
in the unit, and the length and frequency of the previous ``k`` words of the text (spillover); the full model adds the
predictor of ``w`` and of its previous ``k`` words. ``DeltaLL`` = (Gaussian log-likelihood of the full model - that of
the baseline) / N, each with variance RSS / N of its fit; held out by unit folds (``score='cv'``) or in-sample. Every
layer of a ``(layers, n_words)`` predictor is scored at once (one baseline solve per fold, the layers' extra columns
batched: :func:`attnhuman.analysis.least_squares.nested_held_out`).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from attnhuman.analysis.least_squares import nested_held_out
from attnhuman.attention.predictors import PREDICTORS
from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.reading_times import PARADIGMS, ReadingTimes

SCORES = ("cv", "insample")
TARGETS = ("mean", "subject")
MAX_BLOCK = 1 << 23          # rows x extra columns per block of layers (memory of the per-subject target)


@dataclass(frozen=True)
class PowerOptions:
    """The ``predictive`` settings (conf/predictive/default.yaml): which predictors, the target, spillover and valid
    range (None: the paradigm's), punctuation, folds and bootstrap. Checked when built, before any data is read."""

    predictors: tuple[str, ...] = ("surprisal", "entropy")
    target: str = "mean"
    spillover: int | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    exclude_punctuation: bool = True
    folds: int = 10
    n_boot: int = 1000
    seed: int = 0

    def __post_init__(self):
        unknown = [p for p in self.predictors if p not in PREDICTORS]
        if unknown or len(set(self.predictors)) < len(self.predictors):
            raise ConfigError(f"predictive.predictors={list(self.predictors)}: name each once, of "
                              f"{', '.join(PREDICTORS)} (or auto: what the source gives of surprisal and entropy).")
        if self.target not in TARGETS:
            raise ConfigError(f"predictive.target={self.target!r}: choose one of {', '.join(TARGETS)}.")
        for name in ("spillover", "folds", "n_boot", "seed"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"predictive.{name}={value!r}: a whole number >= 0.")
        if self.folds < 2:
            raise ConfigError(f"predictive.folds={self.folds}: 2 or more (units are dealt to folds in turn).")
        low, high = self.min_ms, self.max_ms
        if (low is not None and low < 0) or (low is not None and high is not None and not low < high):
            raise ConfigError(f"predictive.min_ms={low}, max_ms={high}: choose 0 <= min_ms < max_ms.")

    def settings(self, score: str) -> dict:
        """The keyword arguments of :func:`predictive_power` for ``score``."""
        return dict(spillover=self.spillover, min_ms=self.min_ms, max_ms=self.max_ms, target=self.target, score=score,
                    folds=self.folds, n_boot=self.n_boot, seed=self.seed,
                    exclude_punctuation=self.exclude_punctuation)


@dataclass
class PowerResult:
    """``DeltaLL`` per layer (``layers = 1`` for a ``(n_words,)`` predictor, whose ``best_layer`` is None).

    ``excluded``: words left out, by the first reason that applies; ``dropped``: observations dropped among the words
    otherwise analysed. The per-word table (``word_*``, one entry per word analysed, corpus order): flat word index,
    unit, fold (0 for ``insample``), target (the mean of its valid observations, or the published mean) and predictor
    (at the best layer).
    """

    score: str
    target: str
    spillover: int
    delta_ll: np.ndarray         # (layers,) nats per word (per observation for target='subject')
    low: np.ndarray              # (layers,) 95% bootstrap interval of delta_ll (NaN without bootstrap)
    high: np.ndarray             # (layers,)
    r: np.ndarray                # (layers,) Pearson r of predictor and target over the rows regressed
    n_words: int
    n_observations: int          # rows regressed: n_words for target='mean'
    n_units: int                 # units with a word analysed (the bootstrap's units)
    best_layer: int | None
    excluded: dict[str, int]
    dropped: dict[str, int]
    word_index: np.ndarray       # (n_words,)
    word_unit: np.ndarray
    word_fold: np.ndarray
    word_target: np.ndarray
    word_predictor: np.ndarray


def strip_punctuation(word: str) -> str:
    """``word`` without leading and trailing Unicode punctuation (categories P*)."""
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[start:end]


@lru_cache(maxsize=None)
def word_features(word: str) -> tuple[float, float, bool]:
    """Length and zipf frequency of the word stripped of punctuation, and whether punctuation was attached."""
    from wordfreq import zipf_frequency  # loads in about a second: only when needed

    stripped = strip_punctuation(word)
    return float(len(stripped)), zipf_frequency(stripped.lower(), "en"), stripped != word


def _check(corpus: Corpus, times: ReadingTimes, predictor: np.ndarray, target, score, folds, spillover,
           min_ms, max_ms, n_boot) -> np.ndarray:
    """The predictor as ``(layers, n_words)`` float64, after every setting is checked."""
    if score not in SCORES:
        raise ConfigError(f"score={score!r}: choose one of {', '.join(SCORES)}.")
    if target not in TARGETS:
        raise ConfigError(f"target={target!r}: choose one of {', '.join(TARGETS)}.")
    if target == "subject" and times.means:
        raise ConfigError(f"target='subject': {times.group} {times.measure} holds published per-word means, not "
                          "readers; use target='mean'.")
    if score == "cv" and not 2 <= folds <= len(corpus):
        raise ConfigError(f"folds={folds}: choose 2 to {len(corpus)}, the number of units.")
    if spillover < 0:
        raise ConfigError(f"spillover={spillover}: choose 0 or more previous words.")
    if not 0 <= min_ms < max_ms:
        raise ConfigError(f"min_ms={min_ms}, max_ms={max_ms}: choose 0 <= min_ms < max_ms.")
    if n_boot < 0:
        raise ConfigError(f"n_boot={n_boot}: choose 0 (no interval) or more resamples.")
    n = int(corpus.word_offsets[-1])
    predictor = np.asarray(predictor, dtype=np.float64)
    if predictor.ndim not in (1, 2) or predictor.shape[-1] != n:
        raise DataError(f"predictor of shape {predictor.shape}: expected ({n},) or (layers, {n}), one value per "
                        "corpus word.")
    shapes = [v.shape for v in times.values]
    rows = {s[0] for s in shapes}
    if len(shapes) != len(corpus) or len(rows) > 1 or [s[1] for s in shapes] != corpus.n_words.tolist():
        raise DataError(f"{times.group} {times.measure}: reading times for {len(shapes)} units do not match the "
                        f"corpus's {len(corpus)} units of {corpus.n_words.tolist()[:5]}... words.")
    return predictor.reshape(-1, n)


def _previous(corpus: Corpus, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, n_words)`` flat index of each word's ``j``-th previous word in its text (row ``j - 1``) and whether it
    exists (the text is the article's units in corpus order)."""
    n = int(corpus.word_offsets[-1])
    article = np.repeat(corpus.article_of, corpus.n_words)
    index = np.arange(n) - np.arange(1, k + 1)[:, None]
    exists = index >= 0
    exists[exists] = article[index[exists]] == np.broadcast_to(article, index.shape)[exists]
    return np.where(exists, index, 0), exists


def _valid(times: ReadingTimes, min_ms: float, max_ms: float, candidate: np.ndarray):
    """``(n_rows, n_words)`` observations kept, and the counts of those dropped among the ``candidate`` words."""
    flat = times.flat()
    present = np.isfinite(flat)
    if times.means:
        return present, {}
    zero = present & (flat == 0)
    outside = present & ~zero & ((flat < min_ms) | (flat > max_ms))
    dropped = {"observations of 0 ms (skipped words)": int(zero[:, candidate].sum()),
               f"observations outside [{min_ms:g}, {max_ms:g}] ms": int(outside[:, candidate].sum())}
    return present & ~zero & ~outside, dropped


def select_words(corpus: Corpus, times: ReadingTimes, predictor: np.ndarray, spillover: int, min_ms: float,
                 max_ms: float, exclude_punctuation: bool = True):
    """Words analysed (bool ``(n_words,)``), observations kept ``(n_rows, n_words)``, word exclusions by the first
    reason that applies, observations dropped, and the features: length, frequency ``(n_words,)`` and previous-word
    indices ``(k, n_words)``."""
    n_words = corpus.n_words
    local = np.arange(int(corpus.word_offsets[-1])) - np.repeat(corpus.word_offsets[:-1], n_words)
    features = np.array([word_features(w) for unit in corpus.words for w in unit]).reshape(-1, 3)
    undefined = np.isnan(predictor).any(axis=0)
    previous, exists = _previous(corpus, spillover)
    reasons = {
        "first or last word of its unit": (local == 0) | (local == np.repeat(n_words, n_words) - 1),
        "attached to punctuation": features[:, 2].astype(bool) & exclude_punctuation,
        f"fewer than {spillover} previous words in its text": ~exists.all(axis=0),
        "predictor undefined": undefined,
        f"predictor of one of its {spillover} previous words undefined": (undefined[previous] & exists).any(axis=0),
    }
    left = np.ones(local.size, dtype=bool)
    excluded = {}
    for reason, hit in reasons.items():
        excluded[reason] = int((left & hit).sum())
        left &= ~hit
    valid, dropped = _valid(times, min_ms, max_ms, left)
    excluded["no valid reading time"] = int((left & ~valid.any(axis=0)).sum())
    return left & valid.any(axis=0), valid, excluded, dropped, features[:, 0], features[:, 1], previous


def _design(length, freq, previous, words, position) -> np.ndarray:
    """``(n_words analysed, 4 + 2k)`` baseline but its intercept: length, frequency, their product, position, then
    the lengths and the frequencies of the previous ``k`` words."""
    before = previous[:, words]
    return np.column_stack([length[words], freq[words], length[words] * freq[words],
                            position, length[before].T, freq[before].T])


class _Rows:
    """The rows regressed: one per word (target='mean') or per valid (subject, word) observation, sorted by word,
    centred on each subject's means for target='subject'."""

    def __init__(self, words: np.ndarray, valid: np.ndarray, target: str, flat: np.ndarray):
        obs = valid[:, words]
        if target == "mean":
            self.word = np.arange(words.size)
            self.subject = None
            self.y = np.where(obs, flat[:, words], 0).sum(0) / obs.sum(0)
        else:
            self.word, self.subject = np.nonzero(obs.T)              # sorted by word, then subject
            self.y = self.centre(flat[self.subject, words[self.word]])

    def expand(self, columns: np.ndarray) -> np.ndarray:
        """Word-level ``(n_words analysed, ...)`` columns on the rows, centred per subject for target='subject'."""
        out = columns[self.word]
        return out if self.subject is None else self.centre(out)

    def centre(self, values: np.ndarray) -> np.ndarray:
        flat = values.reshape(values.shape[0], -1)
        counts = np.bincount(self.subject)
        means = np.stack([np.bincount(self.subject, weights=c) for c in flat.T], axis=1) / counts[:, None]
        return (flat - means[self.subject]).reshape(values.shape)


def _gaussian_gain(rb: np.ndarray, rf: np.ndarray, vb: np.ndarray, vf: np.ndarray) -> np.ndarray:
    """``(rows, L)`` log-likelihood of the full model minus that of the baseline per row, from the residuals ``rb``
    ``(rows,)`` and ``rf`` ``(rows, L)`` and the variances ``vb``, ``vf`` (the same shapes) of the fits that score
    the rows."""
    return 0.5 * (np.log(vb[:, None]) - np.log(vf)) + rb[:, None] ** 2 / (2 * vb[:, None]) - rf ** 2 / (2 * vf)


def _bootstrap(unit_sums: np.ndarray, unit_counts: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(2, L)`` 95% percentile interval of the mean gain over units resampled with replacement."""
    m = unit_counts.size
    if n_boot == 0:
        return np.full((2, unit_sums.shape[1]), np.nan)
    draws = np.random.default_rng(seed).integers(0, m, size=(n_boot, m))
    times = np.bincount((draws + m * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * m)
    times = times.reshape(n_boot, m).astype(np.float64)
    means = (times @ unit_sums) / (times @ unit_counts)[:, None]
    return np.percentile(means, [2.5, 97.5], axis=0)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L,)`` Pearson r of each column of ``a`` ``(rows, L)`` with ``b`` ``(rows,)``."""
    a = a - a.mean(axis=0)
    b = b - b.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b[:, None]).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum())


def _gains(predictor: np.ndarray, lags: np.ndarray, rows: _Rows, base: np.ndarray, row_fold: np.ndarray,
           score: str) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, layers)`` log-likelihood gain per row and ``(layers,)`` Pearson r, blocks of layers at a time;
    ``lags``: ``(k + 1, n analysed)`` flat index of each word and of its previous ``k`` words. Single-threaded BLAS:
    its GEMMs are small and lose to thread contention on shared cores."""
    n_layers = predictor.shape[0]
    block = max(1, MAX_BLOCK // (rows.y.size * lags.shape[0]))
    gain = np.empty((rows.y.size, n_layers))
    r = np.empty(n_layers)
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n_layers, block):
            layers = slice(start, start + block)
            extra = rows.expand(np.transpose(predictor[layers][:, lags], (2, 0, 1)))    # (rows, L, k + 1)
            r[layers] = _pearson(extra[:, :, 0], rows.y)
            rb, rf, vb, vf = nested_held_out(base, extra, rows.y, row_fold, score)
            gain[:, layers] = _gaussian_gain(rb, rf, vb[row_fold], vf[row_fold])
    return gain, r


def predictive_power(corpus: Corpus, times: ReadingTimes, predictor: np.ndarray, *, spillover: int | None = None,
                     min_ms: float | None = None, max_ms: float | None = None, target: str = "mean",
                     score: str = "cv", folds: int = 10, n_boot: int = 1000, seed: int = 0,
                     exclude_punctuation: bool = True) -> PowerResult:
    """``DeltaLL`` of ``predictor`` ``(n_words,)`` or ``(layers, n_words)`` (flat over the corpus's words, NaN where
    undefined) for the reading times ``times`` (docs/method.md, "Reading times from model predictions").

    ``spillover``, ``min_ms``, ``max_ms``: None takes the paradigm's default. ``score='cv'``: unit ``k`` (corpus
    order) is in fold ``k mod folds``; each fold's rows are scored with the coefficients and variances fitted on the
    other folds. The interval: ``n_boot`` resamples of the units that have a word analysed, drawn as
    ``numpy.random.default_rng(seed).integers(0, n_units, (n_boot, n_units))``, each the mean per-row gain of the
    resampled units' rows (the fits are not redone). ``r``: over the rows regressed (subject-centred for
    target='subject').
    """
    k_default, min_default, max_default = PARADIGMS[times.paradigm]
    spillover = k_default if spillover is None else spillover
    min_ms = min_default if min_ms is None else min_ms
    max_ms = max_default if max_ms is None else max_ms
    predictor = _check(corpus, times, predictor, target, score, folds, spillover, min_ms, max_ms, n_boot)
    analysed, valid, excluded, dropped, length, freq, previous = select_words(
        corpus, times, predictor, spillover, min_ms, max_ms, exclude_punctuation)
    words = np.flatnonzero(analysed)
    unit = np.repeat(np.arange(len(corpus)), corpus.n_words)[words]
    position = words - corpus.word_offsets[unit]
    rows = _Rows(words, valid, target, times.flat())
    base = rows.expand(_design(length, freq, previous, words, position))
    fold = unit % folds if score == "cv" else np.zeros(words.size, dtype=np.int64)
    row_fold = np.unique(fold[rows.word], return_inverse=True)[1]             # 0..K-1 over the folds with rows
    n_params = base.shape[1] + spillover + 2
    train_sizes = [(row_fold != f).sum() if score == "cv" else row_fold.size for f in np.unique(row_fold)]
    if min(train_sizes, default=0) <= n_params:
        raise DataError(f"predictive power: {words.size} words analysed ({rows.y.size} rows), too few to fit "
                        f"{n_params} coefficients{' in every training fold' if score == 'cv' else ''}; lower "
                        "folds or spillover, or use more units.")

    gain, r = _gains(predictor, np.vstack([words[None], previous[:, words]]), rows, base, row_fold, score)
    row_unit = unit[rows.word]
    first = np.flatnonzero(np.diff(row_unit, prepend=-1))
    low, high = _bootstrap(np.add.reduceat(gain, first, axis=0), np.diff(np.append(first, row_unit.size)),
                           n_boot, seed)
    delta = gain.mean(axis=0)
    best = int(np.argmax(delta)) if predictor.shape[0] > 1 else None
    per_word = np.bincount(rows.word, minlength=words.size)
    word_target = (np.bincount(rows.word, weights=times.flat()[rows.subject, words[rows.word]],
                               minlength=words.size) / per_word if target == "subject" else rows.y)
    return PowerResult(score=score, target=target, spillover=spillover, delta_ll=delta, low=low, high=high, r=r,
                       n_words=int(words.size), n_observations=int(rows.y.size), n_units=int(first.size),
                       best_layer=best, excluded=excluded, dropped=dropped, word_index=words, word_unit=unit,
                       word_fold=fold, word_target=word_target, word_predictor=predictor[best or 0, words])
