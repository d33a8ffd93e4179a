"""Word importance from reading times vs attention (Hollenstein & Beinborn 2021; docs/method.md, "Word importance from reading times").

Human importance ``h`` (mean relative total reading time over subjects) and the importance each word
receives from the head-mean attention are compared per unit (sentence) with Spearman rho, layer by layer,
against length / frequency / position baselines and a leave-one-subject-out ceiling. Units are bucketed by
length and ranked along the last axis at once; nothing loops over units or cells.
"""
from __future__ import annotations

import string
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnhuman.corpus import cell_offsets
from attnhuman.errors import ConfigError, DataError
from attnhuman.shapes import LayerHeadCells

RECEIVED = ("mean", "sum")


def _starts(n_words: np.ndarray) -> np.ndarray:
    """``(n_units + 1,)`` word offsets: unit ``k`` owns words ``starts[k]:starts[k + 1]``."""
    return np.concatenate([[0], np.cumsum(n_words)]).astype(np.int64)


def relative(values: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """``values[k]``: ``(n_subjects, n_k)`` raw measure, NaN rows where a subject lacks unit ``k``.

    Returns relFix (same shapes; a row is NaN where missing or where its sum is 0) and the
    ``(subject, unit)`` pairs left out because their sum is 0 (rows NaN to begin with are not listed).
    """
    if not values:
        return [], []
    n = np.array([v.shape[1] for v in values], dtype=np.int64)
    flat = np.concatenate([np.asarray(v, dtype=np.float64) for v in values], axis=1)
    starts = _starts(n)
    sums = np.full((flat.shape[0], n.size), np.nan)
    sums[:, n > 0] = np.add.reduceat(flat, starts[:-1][n > 0], axis=1)
    zero = sums == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = flat / np.repeat(np.where(zero, np.nan, sums), n, axis=1)
    s, k = np.nonzero(zero)
    order = np.lexsort((s, k))
    return np.split(rel, starts[1:-1], axis=1), [(int(s[i]), int(k[i])) for i in order]


def _targets(n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (corpus order), the global index of its column word; per word, how many rows ``i >= j`` see it."""
    n_words = np.asarray(n_words, dtype=np.int64)
    starts = _starts(n_words)
    local = np.arange(starts[-1]) - np.repeat(starts[:-1], n_words)          # row i within its unit, per word
    row_cells = local + 1                                                     # cells on that row
    row_first = np.concatenate([[0], np.cumsum(row_cells)[:-1]])
    col = np.arange(cell_offsets(n_words)[-1]) - np.repeat(row_first, row_cells)
    target = np.repeat(np.repeat(starts[:-1], n_words), row_cells) + col
    return target, np.repeat(n_words, n_words) - local


def _received_flat(attention: LayerHeadCells, n_words: np.ndarray, mode: str) -> np.ndarray:
    """``(n_layers, n_words total)`` importance each word receives from the head-mean attention."""
    if mode not in RECEIVED:
        raise ConfigError(f"received={mode!r}: use one of {', '.join(RECEIVED)}")
    n_words = np.asarray(n_words, dtype=np.int64)
    attention = np.asarray(attention)
    if attention.ndim != 3 or attention.shape[-1] != cell_offsets(n_words)[-1]:
        raise DataError(f"attention of shape {attention.shape}: expected (layers, heads, "
                        f"{int(cell_offsets(n_words)[-1])}) cells for {n_words.size} units")
    target, rows = _targets(n_words)
    mean = attention.mean(axis=1, dtype=np.float64)
    out = np.stack([np.bincount(target, weights=layer, minlength=rows.size) for layer in mean])
    return out / rows if mode == "mean" else out


def received(attention: LayerHeadCells, n_words: np.ndarray, mode: str = "mean") -> list[np.ndarray]:
    """Per unit ``k``, ``(n_layers, n_k)`` importance each word receives (head mean first).

    ``mode='mean'``: mean of ``A[i, j]`` over rows ``i >= j``; ``'sum'``: their sum.
    """
    return np.split(_received_flat(attention, n_words, mode), _starts(n_words)[1:-1], axis=1)


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Spearman rho along the last axis (average ranks); NaN where either row is constant."""
    from scipy.stats import rankdata  # scipy.stats and wordfreq load in a second: only when needed

    ra, rb = rankdata(a, axis=-1), rankdata(b, axis=-1)
    ra -= ra.mean(-1, keepdims=True)
    rb -= rb.mean(-1, keepdims=True)
    ssa, ssb = (ra * ra).sum(-1), (rb * rb).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(-1) / np.sqrt(ssa * ssb)
    return np.where((ssa == 0) | (ssb == 0), np.nan, rho)


def _frequency(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower().strip(string.punctuation), "en")


@dataclass
class WordImportance:
    """Spearman rho of human vs model word importance per layer, with baselines and the ceiling."""

    received: str
    layer_rho: np.ndarray        # (n_layers,) mean rho over units
    layer_sd: np.ndarray         # (n_layers,) SD over units (ddof=0)
    layer_n: np.ndarray          # (n_layers,) units scored per layer
    n_constant: np.ndarray       # (n_layers,) units left out as constant per layer
    best_layer: int
    best_rho: float
    ceiling: float
    normalised: float            # 100 * best_rho / ceiling
    baselines: dict[str, float]  # 'length', 'frequency', 'position' -> mean rho
    units: np.ndarray            # indices of the units scored
    human: list[np.ndarray]      # h per scored unit
    model: list[np.ndarray]      # m at the best layer per scored unit
    unit_rho: np.ndarray         # (n_layers, scored units) rho per unit, NaN where constant
    ceiling_rho: np.ndarray      # (n_subjects, scored units) each subject's rho against the others, NaN where none

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: layer, rho, sd, n, n_constant."""
        return pd.DataFrame({"layer": np.arange(self.layer_rho.size), "rho": self.layer_rho, "sd": self.layer_sd,
                             "n": self.layer_n, "n_constant": self.n_constant})


def word_importance(attention: LayerHeadCells, n_words: np.ndarray, relfix: list[np.ndarray],
                    words: list[tuple[str, ...]], keep: np.ndarray | None = None,
                    received: str = "mean") -> WordImportance:
    """Score attention against human word importance (docs/method.md, "Word importance from reading times").

    ``relfix[k]``: ``(n_subjects, n_k)`` from :func:`relative`. ``keep``: ``(n_units,)`` bool of units to
    score (None: all); units with < 2 words or no subject left are skipped. The ceiling (leave one
    subject out) and the baselines use the same scored units; constant vectors are left out and counted.
    """
    n_words = np.asarray(n_words, dtype=np.int64)
    m_flat = _received_flat(attention, n_words, received)
    if len(relfix) != n_words.size or len(words) != n_words.size:
        raise DataError(f"{n_words.size} units but {len(relfix)} relfix arrays and {len(words)} word lists")
    bad = [k for k in range(n_words.size) if len(words[k]) != n_words[k] or relfix[k].shape[1] != n_words[k]]
    if bad:
        raise DataError(f"unit {bad[0]}: {n_words[bad[0]]} words but {len(words[bad[0]])} words given and "
                        f"relfix of shape {relfix[bad[0]].shape} ({len(bad)} units disagree)")
    starts = _starts(n_words)
    r_flat = np.concatenate([np.asarray(r, dtype=np.float64) for r in relfix], axis=1)  # (subjects, words)
    have = np.isfinite(r_flat)
    r0 = np.where(have, r_flat, 0.0)
    have_unit = np.zeros((r_flat.shape[0], n_words.size), dtype=bool)
    have_unit[:, n_words > 0] = np.logical_and.reduceat(have, starts[:-1][n_words > 0], axis=1)
    keep = np.ones(n_words.size, bool) if keep is None else np.asarray(keep, dtype=bool)
    units = np.flatnonzero(keep & (n_words >= 2) & have_unit.any(0))
    if units.size == 0:
        raise DataError("word importance: no unit to score (need >= 2 words and >= 1 subject with a non-zero sum)")
    r0 *= np.repeat(have_unit, n_words, axis=1)                    # a subject counts for a unit or not at all
    count = np.repeat(have_unit.sum(0), n_words)
    with np.errstate(invalid="ignore", divide="ignore"):
        h_flat = r0.sum(0) / count
    position = np.arange(n_words[units].sum()) - np.repeat(_starts(n_words[units])[:-1], n_words[units])
    used = np.repeat(starts[units], n_words[units]) + position    # the scored words, in order
    flat_words = [w for k in units for w in words[k]]
    freq = {w: _frequency(w) for w in set(flat_words)}
    base = {"length": np.array([len(w) for w in flat_words], float),
            "frequency": np.array([freq[w] for w in flat_words]), "position": position.astype(float)}
    pos = np.empty(starts[-1], np.int64)
    pos[used] = np.arange(used.size)                               # word -> index among the scored words

    n_layers, n_subj = m_flat.shape[0], r_flat.shape[0]
    rho_model = np.empty((n_layers, units.size))
    rho_base = {b: np.empty(units.size) for b in base}
    rho_ceiling = np.full((n_subj, units.size), np.nan)
    for n in np.unique(n_words[units]):
        which = np.flatnonzero(n_words[units] == n)
        idx = starts[units[which]][:, None] + np.arange(n)       # (u, n) global word indices
        h = h_flat[idx]
        rho_model[:, which] = _spearman(m_flat[:, idx], h)
        for b, v in base.items():
            rho_base[b][which] = _spearman(v[pos[idx]], h)
        r = r0[:, idx]                                             # (subjects, u, n), 0 where missing
        has = have_unit[:, units[which]]
        others = np.stack([np.delete(r, s, axis=0).sum(0) for s in range(n_subj)])
        n_other = has.sum(0) - has
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = _spearman(r, others / n_other[..., None])
        rho_ceiling[:, which] = np.where(has & (n_other >= 1), rho, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        layer_rho, layer_sd = np.nanmean(rho_model, 1), np.nanstd(rho_model, 1)
        ceiling = float(np.nanmean(np.nanmean(rho_ceiling, axis=1)))
        baselines = {b: float(np.nanmean(v)) for b, v in rho_base.items()}
    if np.isnan(layer_rho).all():
        raise DataError(f"word importance: all {units.size} scored units are constant in every layer")
    best = int(np.nanargmax(layer_rho))
    split = np.cumsum(n_words[units])[:-1]
    return WordImportance(
        received=received, layer_rho=layer_rho, layer_sd=layer_sd,
        layer_n=np.isfinite(rho_model).sum(1), n_constant=np.isnan(rho_model).sum(1),
        best_layer=best, best_rho=float(layer_rho[best]), ceiling=ceiling,
        normalised=100 * float(layer_rho[best]) / ceiling, baselines=baselines, units=units,
        human=np.split(h_flat[used], split), model=np.split(m_flat[best, used], split), unit_rho=rho_model,
        ceiling_rho=rho_ceiling)
