"""Trivial-pattern reliance (docs/method.md, "Trivial pattern reliance", paper section 3.3), vectorized.

Three 0/1 patterns on the shared cell index: ``start`` (j == 0), ``previous`` (j == i - 1) and
``self`` (j == i). Every head of every layer, and every subject of a group, is the target of ONE
multi-target OLS with intercept on these 3 columns (the design is shared, so it is factorized
once). R2 is the in-sample coefficient of determination.

A target that is constant over the cells (a head that puts the same weight everywhere, a subject
without transitions) has no variance to explain: its R2 is reported as NaN (never 0, which would
pull a layer mean down) and listed in ``constant``; layer means skip NaN heads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attnhuman.analysis.least_squares import design_r2
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort


def pattern_design(n_words: np.ndarray, cell_mask: np.ndarray | None = None) -> np.ndarray:
    """``(cells, 3)`` float64 0/1 columns start, previous, self on the cell index of ``n_words``.

    ``cell_mask``: optional ``(n_cells,)`` bool (e.g. ``Cohort.cell_mask``) selecting the cells.
    """
    _, rows, cols = tril_cells(np.asarray(n_words))
    design = np.column_stack([cols == 0, cols == rows - 1, cols == rows]).astype(np.float64)
    if cell_mask is not None:
        cell_mask = np.asarray(cell_mask, dtype=bool)
        if cell_mask.shape != (len(design),):
            raise DataError(f"cell_mask has shape {cell_mask.shape}, the corpus has {len(design)} cells.")
        design = design[cell_mask]
    return design


def pattern_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(targets,)`` R2 of OLS with intercept of each ``(cells, targets)`` column on ``design``
    ``(cells, 3)``; NaN for a constant column."""
    targets = np.asarray(targets)
    out = np.full(targets.shape[1], np.nan)
    varying = np.ptp(targets, axis=0) > 0
    if varying.any():
        out[varying] = design_r2(design, targets[:, varying])
    return out


def _projector(design: np.ndarray) -> np.ndarray:
    """Orthonormal ``(cells, rank)`` basis of the centred design's column space."""
    x = design - design.mean(axis=0)
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, sv > sv[0] * max(x.shape) * np.finfo(np.float64).eps]


@dataclass
class ModelReliance:
    """A run's trivial-pattern reliance. ``r2``: ``(layers, heads)`` (NaN: constant head)."""

    r2: np.ndarray
    constant: list[tuple[int, int]] = field(default_factory=list)   # (layer, head) of constant heads

    @property
    def layer_r2(self) -> np.ndarray:
        """``(layers,)`` mean R2 over the layer's (non-constant) heads: the layer's reliance."""
        valid = ~np.isnan(self.r2)
        counts = valid.sum(axis=1)
        sums = np.where(valid, self.r2, 0.0).sum(axis=1)
        return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)

    def describe_constant(self) -> str:
        if not self.constant:
            return "no constant head"
        shown = ", ".join(f"L{layer}H{head}" for layer, head in self.constant[:10])
        more = f" and {len(self.constant) - 10} more" if len(self.constant) > 10 else ""
        return f"{len(self.constant)} constant head(s) with R2 undefined (NaN, skipped in layer means): {shown}{more}"


def model_reliance(store: AttentionStore, chunk: int = 8) -> ModelReliance:
    """Per-head R2 of the 3 patterns, all heads of ``chunk`` layers as targets of one regression."""
    design = pattern_design(store.n_words)
    n_layers, n_heads, n_cells = store.attention.shape
    r2 = np.empty((n_layers, n_heads))
    for start in range(0, n_layers, chunk):
        block = store.attention[start:start + chunk]                        # (c, H, cells)
        r2[start:start + len(block)] = pattern_r2(design, block.reshape(-1, n_cells).T).reshape(len(block), n_heads)
    constant = [tuple(int(x) for x in lh) for lh in np.argwhere(np.isnan(r2))]
    return ModelReliance(r2, constant)


def residual_attention(store: AttentionStore, chunk: int = 8, dtype=np.float32) -> np.ndarray:
    """``(layers, heads, cells)`` attention minus its fitted pattern part (intercept included):
    the OLS residual of each head, mean zero per head (zero for a constant head)."""
    q = _projector(pattern_design(store.n_words))                               # (cells, rank)
    n_layers, n_heads, n_cells = store.attention.shape
    out = np.empty((n_layers, n_heads, n_cells), dtype=dtype)
    for start in range(0, n_layers, chunk):
        y = store.attention[start:start + chunk].astype(np.float64)             # (c, H, cells)
        y -= y.mean(axis=-1, keepdims=True)
        out[start:start + len(y)] = y - (y @ q) @ q.T
    return out


def residual_store(store: AttentionStore, chunk: int = 8) -> AttentionStore:
    """The residual attention as an AttentionStore (same cells; values can be negative)."""
    return AttentionStore(residual_attention(store, chunk), store.n_words.copy(),
                          store.sentences_per_article.copy())


def human_reliance(cohort: Cohort, n_words: np.ndarray) -> np.ndarray:
    """``(subjects,)`` R2 of each subject's kept cells on the 3 patterns (NaN: constant subject).

    ``n_words``: ``(n_sentences,)`` of the corpus the cohort was built on (``corpus.n_words``).
    """
    return pattern_r2(pattern_design(n_words, cohort.cell_mask), cohort.targets)


SUMMARY_COLUMNS = ["n_subjects", "mean", "se", "min", "max"]
TTEST_COLUMNS = ["T", "dof", "alternative", "p_val", "CI95", "cohen_d", "BF10", "power"]


def summarize(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per group: n, mean, SE (sd with ddof=1 / sqrt(n)), min, max of per-subject R2 (NaN skipped)."""
    rows = {}
    for group, r2 in values.items():
        r2 = np.asarray(r2, dtype=np.float64)
        r2 = r2[~np.isnan(r2)]
        se = r2.std(ddof=1) / np.sqrt(len(r2)) if len(r2) > 1 else np.nan
        rows[group] = [len(r2), r2.mean() if len(r2) else np.nan, se,
                       r2.min() if len(r2) else np.nan, r2.max() if len(r2) else np.nan]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=SUMMARY_COLUMNS)
    frame.index.name = "group"
    return frame


def human_table(cohorts: dict[str, Cohort], n_words: np.ndarray, correction="auto") -> pd.DataFrame:
    """Paper Table 5: per-group summary of the subjects' trivial R2, and an L1 vs L2 t-test.

    Rows: one per group (``n_subjects, mean, se, min, max``), then ``L1 vs L2`` with the columns of
    ``pingouin.ttest`` (independent samples; ``correction="auto"``, pingouin's default, is Welch's
    test when the group sizes differ; ``False``: Student's). Written as tables/trivial_humans.csv.
    """
    values = {g: human_reliance(c, n_words) for g, c in cohorts.items()}
    frame = summarize(values)
    frame = frame.reindex(columns=SUMMARY_COLUMNS + TTEST_COLUMNS)
    if {"L1", "L2"} <= set(values):
        import pingouin as pg
        a, b = (values[g][~np.isnan(values[g])] for g in ("L1", "L2"))
        test = pg.ttest(a, b, paired=False, correction=correction).iloc[0]
        row = {c: test[c] for c in TTEST_COLUMNS if c in test.index}
        if "CI95" in row:
            row["CI95"] = "[" + ", ".join(f"{x:.6g}" for x in np.asarray(row["CI95"], dtype=float)) + "]"
        frame.loc["L1 vs L2"] = pd.Series(row)
    frame["n_subjects"] = frame["n_subjects"].astype("Int64")
    return frame
