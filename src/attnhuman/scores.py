"""Score options beyond the paper-faithful resemblance (METHOD.md section 4; GitHub issue 5, item 3).

The paper's score (``resemblance.py``) is an in-sample R2 with one predictor per head, so a model
with more heads gets more predictors, and its ceiling's group mean contains the subject it predicts.
The options below are named (``analysis`` config) and change the metric names
(:func:`metric_suffix`); the defaults reproduce the paper exactly.

``score``
    ``insample`` (paper): in-sample R2 of least squares with intercept.
    ``cv``: K-fold out-of-fold R2. Folds keep whole units together (``cv.unit``: ``sentence`` or
    ``article``), dealt by scikit-learn ``GroupKFold(shuffle=True, random_state=cv.seed)``.
    Definition: the cells of fold k are predicted by the fit (intercept and coefficients) on the
    cells of the other folds; the out-of-fold predictions of all kept cells are concatenated and
    ``R2_cv[s] = 1 - sum_c (y[c,s] - yhat[c,s])^2 / sum_c (y[c,s] - ybar[s])^2`` with ``ybar[s]``
    the subject's mean over ALL kept cells. It is negative when the out-of-fold predictions are
    worse than that mean.
``predictors``
    ``heads`` (paper): one column per head.
    ``pcs``: the first ``n_components`` principal components of the layer's heads (centred, not
    rescaled; in cv computed from the training folds only): principal-components regression with
    the same number of predictors for every model size.
    ``ridge``: ridge regression on the heads (intercept not penalized, heads not rescaled), with a
    penalty from ``ridge.alphas`` chosen per layer and subject by the smallest summed grouped-CV
    error: in cv mode by a nested CV whose inner folds are the other K-1 outer folds (leave one of
    them out); in insample mode by the K folds, followed by the in-sample R2 of the full-data fit.
``ceiling``
    ``group_mean`` (paper): the released group mean as single predictor of each subject.
    ``loo``: each subject regressed on the mean of the OTHER subjects of the cohort (it contains
    no part of the subject's noise; it is biased low by the reliability of the others' mean).
    ``split_half``: the single-subject reliability from split halves, see :func:`split_half_ceiling`.
    In cv mode ``group_mean`` and ``loo`` are out-of-fold R2 on the same folds with the same
    definition; ``split_half`` estimates the R2 of a noise-free predictor, which has nothing to
    overfit, and is the same in both modes.

All fits are multi-target and vectorized: per layer, every fit comes from per-fold sufficient
statistics (sums, Gram and cross-product matrices), so one eigendecomposition of the centred
training Gram matrix per layer and fold serves every subject, filter and permutation.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from threadpoolctl import threadpool_limits

from attnhuman.attention import AttentionStore
from attnhuman.corpus import Corpus, n_cells
from attnhuman.errors import DataError
from attnhuman.humans import Cohort
from attnhuman.registry import ConfigError
from attnhuman.resemblance import (_MIN_EIGEN_RATIO, GroupResemblance, _centred_targets, ceiling_r2,
                                   layer_r2)

SCORES = ("insample", "cv")
PREDICTORS = ("heads", "pcs", "ridge")
CEILINGS = ("group_mean", "loo", "split_half")
UNITS = ("sentence", "article")
DEFAULT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
DEFAULT_FOLDS = 5


# ----------------------------------------------------------------------------------------- options

@dataclass(frozen=True)
class ScoreOptions:
    """The ``analysis`` options of this module, checked. Missing keys take the paper default."""

    score: str = "insample"
    cv_unit: str = "sentence"
    cv_folds: int = DEFAULT_FOLDS
    cv_seed: int = 0
    predictors: str = "heads"
    n_components: int = 8
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    ceiling: str = "group_mean"
    split_half_splits: int = 100
    split_half_seed: int = 0
    n_perm: int = 0
    perm_seed: int = 0
    perm_alpha: float = 0.05

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> "ScoreOptions":
        cfg = cfg if cfg is not None else {}
        get = lambda section, key, default: ((cfg.get(section) or {}).get(key, default)  # noqa: E731
                                             if section else cfg.get(key, default))
        opts = cls(score=str(get(None, "score", "insample")), cv_unit=str(get("cv", "unit", "sentence")),
                   cv_folds=int(get("cv", "folds", DEFAULT_FOLDS)), cv_seed=int(get("cv", "seed", 0)),
                   predictors=str(get(None, "predictors", "heads")),
                   n_components=int(get(None, "n_components", 8)),
                   alphas=tuple(float(a) for a in get("ridge", "alphas", DEFAULT_ALPHAS)),
                   ceiling=str(get(None, "ceiling", "group_mean")),
                   split_half_splits=int(get("split_half", "n_splits", 100)),
                   split_half_seed=int(get("split_half", "seed", 0)),
                   n_perm=int(get("permutation", "n", 0)), perm_seed=int(get("permutation", "seed", 0)),
                   perm_alpha=float(get("permutation", "alpha", 0.05)))
        opts.check()
        return opts

    def check(self, n_heads: int | None = None) -> None:
        """Raise ConfigError naming the ``analysis`` key of the first bad option."""
        for key, value, choices in (("score", self.score, SCORES), ("predictors", self.predictors, PREDICTORS),
                                    ("ceiling", self.ceiling, CEILINGS), ("cv.unit", self.cv_unit, UNITS)):
            if value not in choices:
                raise ConfigError(f"analysis.{key}={value!r}: choose one of {list(choices)}")
        if self.cv_folds < 2:
            raise ConfigError(f"analysis.cv.folds={self.cv_folds}: need at least 2 folds")
        if self.score == "cv" and self.predictors == "ridge" and self.cv_folds < 3:
            raise ConfigError("analysis.score=cv with predictors=ridge needs analysis.cv.folds >= 3 "
                              "(the nested CV leaves one of the other K-1 folds out)")
        if self.n_components < 1 or (n_heads is not None and self.predictors == "pcs" and self.n_components > n_heads):
            raise ConfigError(f"analysis.n_components={self.n_components}: choose 1 to the number of heads"
                              f"{f' ({n_heads})' if n_heads is not None else ''}")
        if not self.alphas or min(self.alphas) <= 0:
            raise ConfigError(f"analysis.ridge.alphas={list(self.alphas)}: give one or more positive penalties")
        if self.split_half_splits < 1:
            raise ConfigError(f"analysis.split_half.n_splits={self.split_half_splits}: need at least 1")
        if self.n_perm < 0:
            raise ConfigError(f"analysis.permutation.n={self.n_perm}: 0 (off) or a positive count")
        if not 0 < self.perm_alpha < 1:
            raise ConfigError(f"analysis.permutation.alpha={self.perm_alpha}: choose a level in (0, 1)")

    @property
    def needs_folds(self) -> bool:
        return self.score == "cv" or self.predictors == "ridge"

    @property
    def suffix(self) -> str:
        """'' for the paper default, else e.g. 'cv', 'cv10_article', 'cv_pcs8', 'loo', 'ridge_splithalf'."""
        parts = []
        if self.score == "cv":
            parts.append("cv" + (str(self.cv_folds) if self.cv_folds != DEFAULT_FOLDS else "")
                         + ("_article" if self.cv_unit == "article" else ""))
        if self.predictors != "heads":
            parts.append(f"pcs{self.n_components}" if self.predictors == "pcs" else "ridge")
        if self.ceiling != "group_mean":
            parts.append(self.ceiling.replace("_", ""))
        return "_".join(parts)


def metric_suffix(analysis_cfg: Mapping | None) -> str:
    """'' for the paper-faithful default, else the options' tag (see :attr:`ScoreOptions.suffix`)."""
    return ScoreOptions.from_config(analysis_cfg).suffix


def metric_key(base: str, suffix: str, group: str) -> str:
    """``r2_L1`` for the default, ``r2_cv_pcs8_L1`` with a suffix."""
    return f"{base}_{suffix}_{group}" if suffix else f"{base}_{group}"


# ------------------------------------------------------------------------------------------- folds

def cell_folds(groups: np.ndarray, n_folds: int, seed: int, unit: str = "sentence") -> np.ndarray:
    """``(cells,)`` fold index of every cell; cells of one group (sentence or article id) share a fold.

    scikit-learn ``GroupKFold(n_folds, shuffle=True, random_state=seed)``: groups are shuffled and
    dealt into ``n_folds`` folds of (almost) equal group counts.
    """
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_folds < 2 or n_folds > n_groups:
        raise ConfigError(f"analysis.cv.folds={n_folds}: choose 2 to {n_groups}, the number of kept {unit}s")
    fold = np.empty(len(groups), dtype=np.int64)
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(groups)), groups=groups)):
        fold[test] = k
    return fold


# ------------------------------------------------------- spectral fits from per-fold sufficient statistics

@dataclass
class _FoldStats:
    """Sufficient statistics per fold (fold axis first) for ``B`` designs of ``F`` features and ``S`` targets.

    ``n`` (K,); ``sx`` (K, B, F); ``gxx`` (K, B, F, F) raw Gram; ``sy``, ``syy`` (K, S);
    ``pxy`` (K, B, F, S) raw cross-products.
    """

    n: np.ndarray
    sx: np.ndarray
    gxx: np.ndarray
    sy: np.ndarray
    syy: np.ndarray
    pxy: np.ndarray

    def total(self, folds: np.ndarray, which: str = "n sx gxx sy syy pxy") -> tuple:
        """Sums over the folds where ``folds`` is true of the named statistics."""
        idx = np.flatnonzero(folds)
        out = []
        for name in which.split():
            a = getattr(self, name)
            acc = a[idx[0]].copy() if a.ndim > 1 else a[idx].sum()
            for k in idx[1:] if a.ndim > 1 else ():
                acc += a[k]
            out.append(acc)
        return tuple(out)

    @property
    def sst(self) -> np.ndarray:
        """``(S,)`` total sum of squares around each target's overall mean."""
        return self.syy.sum(0) - self.sy.sum(0) ** 2 / self.n.sum()


def _x_stats(x2: np.ndarray, n_features: int, bounds: np.ndarray):
    """``(sx, gxx)`` of ``x2`` ``(B*F, cells)`` float64, cells sorted by fold (fold k = ``bounds[k]:bounds[k+1]``)."""
    k, b = len(bounds) - 1, x2.shape[0] // n_features
    sx = np.empty((k, b, n_features))
    gxx = np.empty((k, b, n_features, n_features))
    for i in range(k):
        xs = x2[:, bounds[i]:bounds[i + 1]].reshape(b, n_features, -1)
        sx[i] = xs.sum(-1)
        gxx[i] = xs @ np.swapaxes(xs, 1, 2)
    return sx, gxx


def _y_stats(y: np.ndarray, bounds: np.ndarray):
    """``(sy, syy)`` ``(K, S)`` of ``y`` ``(cells, S)`` sorted by fold."""
    sy = np.stack([y[a:e].sum(0) for a, e in zip(bounds[:-1], bounds[1:])])
    syy = np.stack([np.einsum("cs,cs->s", y[a:e], y[a:e]) for a, e in zip(bounds[:-1], bounds[1:])])
    return sy, syy


def _cross(x2: np.ndarray, n_features: int, y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``(K, B, F, S)`` per-fold ``X^T y``; one GEMM per fold."""
    b = x2.shape[0] // n_features
    return np.stack([(x2[:, a:e] @ y[a:e]).reshape(b, n_features, -1) for a, e in zip(bounds[:-1], bounds[1:])])


def _fold_stats(x2, n_features, y, bounds) -> _FoldStats:
    """Statistics of ``x2`` ``(B*F, cells)`` and ``y`` ``(cells, S)``, both sorted by fold."""
    return _FoldStats(np.diff(bounds), *_x_stats(x2, n_features, bounds), *_y_stats(y, bounds),
                      _cross(x2, n_features, y, bounds))


def _filters(w: np.ndarray, predictors: str, n_components: int, alphas) -> np.ndarray:
    """``(A, B, F)`` spectral filters ``phi(w)`` on ascending Gram eigenvalues ``w`` ``(B, F)``.

    Coefficients are ``V diag(phi) V^T X_c^T y``: OLS (pseudo-inverse, directions with
    ``w <= w_max * 1e-10`` dropped), principal-components regression (the top ``n_components``),
    ridge ``1 / (w + alpha)`` per alpha.
    """
    usable = w > w[:, -1:] * _MIN_EIGEN_RATIO
    if predictors == "ridge":
        return 1.0 / (np.clip(w, 0, None)[None] + np.asarray(alphas, dtype=np.float64)[:, None, None])
    if predictors == "pcs":
        usable &= np.arange(w.shape[1]) >= w.shape[1] - n_components
    return np.where(usable, 1.0 / np.where(usable, w, 1.0), 0.0)[None]


def _basis(st: _FoldStats, train, test, predictors, n_components, alphas) -> dict:
    """The target-independent part of a (train, test) fit: training means, eigenbasis, filters, test Gram."""
    nt, sxt, gt = st.total(train, "n sx gxx")
    xb = sxt / nt
    w, v = np.linalg.eigh(gt - nt * xb[:, :, None] * xb[:, None, :])
    out = dict(nt=nt, xb=xb, w=w, v=v, vt=np.swapaxes(v, 1, 2), phi=_filters(w, predictors, n_components, alphas),
               ill=w[:, 0] <= w[:, -1] * _MIN_EIGEN_RATIO, same=np.array_equal(train, test))
    if not out["same"]:
        ne, sxe, ge = st.total(test, "n sx gxx")
        h = ge - sxe[:, :, None] * xb[:, None, :] - xb[:, :, None] * sxe[:, None, :] + ne * xb[:, :, None] * xb[:, None, :]
        out.update(ne=ne, sxe=sxe, ht=out["vt"] @ h @ v)
    return out


def _sse(st: _FoldStats, train, test, predictors: str, n_components: int, alphas, cache: dict | None = None):
    """Test-fold SSE of the fits on the train folds: ``(A filters, B, S)``; and ``(B,)`` ill-conditioned flags.

    With ``train == test`` the in-sample SSE. ``cache`` keeps the target-independent part between calls
    that share the designs (permutations).
    """
    key = (train.tobytes(), test.tobytes())
    base = cache.get(key) if cache is not None else None
    if base is None:
        base = _basis(st, train, test, predictors, n_components, alphas)
        if cache is not None:
            cache[key] = base
    nt, xb, phi, vt = base["nt"], base["xb"], base["phi"], base["vt"]
    syt, pt = st.total(train, "sy pxy")
    yb = syt / nt
    pt -= nt * xb[:, :, None] * yb                                    # centred training X^T y
    z = vt @ pt                                                       # (B, F, S)
    if base["same"]:
        syyt, = st.total(train, "syy")
        z2 = z * z
        sse = (syyt - nt * yb ** 2) - np.einsum("abf,bfs->abs", 2 * phi - phi ** 2 * base["w"], z2)
        return sse, base["ill"]
    ne, sxe = base["ne"], base["sxe"]
    sye, syye, pe = st.total(test, "sy syy pxy")
    a0 = syye - 2 * yb * sye + ne * yb ** 2                           # sum_test (y - ybar_train)^2
    pe -= sxe[:, :, None] * yb + xb[:, :, None] * (sye - ne * yb)     # sum_test (x - xbar)(y - ybar)
    dt = vt @ pe
    sse = np.empty((phi.shape[0],) + z.shape[::2])
    for a in range(phi.shape[0]):
        c = phi[a][:, :, None] * z
        sse[a] = a0 - np.einsum("bfs,bfs->bs", c, 2 * dt - base["ht"] @ c)
    return sse, base["ill"]


def _outer_pairs(score: str, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train folds, test folds) masks: K held-out folds (cv) or all/all (insample)."""
    if score == "insample":
        every = np.ones(k, dtype=bool)
        return [(every, every)]
    eye = np.eye(k, dtype=bool)
    return [(~eye[i], eye[i]) for i in range(k)]


def _procedure_sse(st: _FoldStats, score: str, predictors: str, n_components: int, alphas, cache=None):
    """SSE per pair ``(pairs, B, S)``, ill flags ``(pairs, B)`` and ridge choices ``(pairs, B, S)`` or None.

    Runs single-threaded: its many small eigendecompositions are several times slower with OpenBLAS threads.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _procedure_sse_unlimited(st, score, predictors, n_components, alphas, cache)


def _procedure_sse_unlimited(st: _FoldStats, score: str, predictors: str, n_components: int, alphas, cache):
    pairs = _outer_pairs(score, len(st.n))
    sse, ill, chosen = [], [], []
    for train, test in pairs:
        if predictors == "ridge":
            inner = sum(_sse(st, train & (np.arange(len(st.n)) != g), np.arange(len(st.n)) == g,
                             predictors, n_components, alphas, cache)[0] for g in np.flatnonzero(train))
            best = np.argmin(inner, axis=0)                               # (B, S)
            every, flags = _sse(st, train, test, predictors, n_components, alphas, cache)
            sse.append(np.take_along_axis(every, best[None], 0)[0])
            chosen.append(best)
        else:
            s, flags = _sse(st, train, test, predictors, n_components, alphas, cache)
            sse.append(s[0])
        ill.append(flags)
    return np.stack(sse), np.stack(ill), (np.stack(chosen) if chosen else None)


def _lstsq_sse(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """``(S,)`` test SSE of OLS with intercept fitted by ``numpy.linalg.lstsq`` (rank-revealing)."""
    design = np.column_stack([np.ones(len(x)), x])
    coef = np.linalg.lstsq(design[train], y[train], rcond=None)[0]
    residual = y[test] - design[test] @ coef
    return np.einsum("cs,cs->s", residual, residual)


def _sorted_by_fold(fold: np.ndarray | None, n: int):
    """Cell order that makes folds contiguous, fold bounds and fold index per sorted cell."""
    if fold is None:
        return np.arange(n), np.array([0, n]), np.zeros(n, dtype=np.int64)
    fold = np.asarray(fold)
    if fold.shape != (n,):
        raise DataError(f"fold has shape {fold.shape}, expected ({n},) (one fold per cell)")
    order = np.argsort(fold, kind="stable")
    counts = np.bincount(fold, minlength=int(fold.max()) + 1)
    if (counts == 0).any():
        raise DataError(f"folds {np.flatnonzero(counts == 0).tolist()} have no cells; number folds 0..K-1")
    return order, np.concatenate([[0], np.cumsum(counts)]), fold[order]


def layer_scores(attention: np.ndarray, targets: np.ndarray, fold: np.ndarray | None = None, *,
                 score: str = "insample", predictors: str = "heads", n_components: int = 8,
                 alphas=DEFAULT_ALPHAS, chunk: int = 8, return_alphas: bool = False):
    """``(layers, subjects)`` R2 of each layer's predictors for each subject.

    ``attention``: ``(layers, heads, cells)``; ``targets``: ``(cells, subjects)``; ``fold``:
    ``(cells,)`` fold index 0..K-1, needed for ``score='cv'`` and ``predictors='ridge'``.
    ``insample`` + ``heads`` is :func:`attnhuman.resemblance.layer_r2` (the paper). With
    ``return_alphas`` also the chosen ridge penalties ``(K or 1, layers, subjects)`` (else None).
    """
    targets = np.asarray(targets, dtype=np.float64)
    n_layers, n_heads, n = attention.shape
    if targets.shape[0] != n:
        raise DataError(f"attention has {n} cells, targets {targets.shape[0]}")
    ScoreOptions(score=score, predictors=predictors, n_components=n_components,
                 alphas=tuple(alphas)).check(n_heads=n_heads)
    if (score == "cv" or predictors == "ridge") and fold is None:
        raise DataError(f"score={score!r} with predictors={predictors!r} needs a fold per cell")
    if score == "insample" and predictors == "heads":
        r2 = layer_r2(attention, targets, chunk=chunk)
        return (r2, None) if return_alphas else r2
    _, sst = _centred_targets(targets)
    order, bounds, sorted_fold = _sorted_by_fold(fold if (score == "cv" or predictors == "ridge") else None, n)
    if score == "cv" and predictors == "ridge" and len(bounds) < 4:
        raise ConfigError("score=cv with predictors=ridge needs at least 3 folds")
    y = targets[order]
    out = np.empty((n_layers, targets.shape[1]))
    chosen_all = []
    for start in range(0, n_layers, chunk):
        block = attention[start:start + chunk][:, :, order].astype(np.float64)
        st = _fold_stats(block.reshape(-1, n), n_heads, y, bounds)
        sse, ill, chosen = _procedure_sse(st, score, predictors, n_components, alphas)
        if predictors == "heads":                                  # exact lstsq where the Gram route is unsafe
            for p, (train, test) in enumerate(_outer_pairs(score, len(bounds) - 1)):
                for b in np.flatnonzero(ill[p]):
                    sse[p, b] = _lstsq_sse(block[b].T, y, train[sorted_fold], test[sorted_fold])
        out[start:start + chunk] = 1.0 - sse.sum(0) / sst
        if chosen is not None:
            chosen_all.append(np.asarray(alphas)[chosen])
    if not return_alphas:
        return out
    return out, (np.concatenate(chosen_all, axis=1) if chosen_all else None)


# ---------------------------------------------------------------------------------------- ceilings

def single_predictor_r2(predictor: np.ndarray, targets: np.ndarray, fold: np.ndarray | None = None) -> np.ndarray:
    """``(S,)`` R2 of each target on its own single predictor (OLS with intercept).

    ``predictor``: ``(cells,)`` shared or ``(cells, S)`` one per target; ``targets``: ``(cells, S)``.
    ``fold`` None: in-sample (squared correlation); else out-of-fold R2 as defined in the module doc.
    """
    y = np.asarray(targets, dtype=np.float64)
    x = np.asarray(predictor, dtype=np.float64)
    x = np.broadcast_to(x[:, None] if x.ndim == 1 else x, y.shape)
    _, sst = _centred_targets(y)
    fold = np.zeros(len(y), dtype=np.int64) if fold is None else np.asarray(fold)
    folds = np.unique(fold)
    sse = np.zeros(y.shape[1])
    for k in folds:
        test = fold == k
        train = ~test if len(folds) > 1 else test
        xb, yb = x[train].mean(0), y[train].mean(0)
        xc = x[train] - xb
        sxx = np.einsum("cs,cs->s", xc, xc)
        slope = np.einsum("cs,cs->s", xc, y[train] - yb) / np.where(sxx > 0, sxx, 1.0)
        residual = y[test] - yb - slope * (x[test] - xb)
        sse += np.einsum("cs,cs->s", residual, residual)
    return 1.0 - sse / sst


def loo_means(targets: np.ndarray) -> np.ndarray:
    """``(cells, S)``: column s is the mean of the other subjects' targets."""
    targets = np.asarray(targets, dtype=np.float64)
    s = targets.shape[1]
    if s < 2:
        raise DataError("the loo ceiling needs at least 2 subjects")
    return (targets.sum(axis=1, keepdims=True) - targets) / (s - 1)


def split_half_ceiling(targets: np.ndarray, n_splits: int = 100, seed: int = 0) -> float:
    """Single-subject reliability from random split halves (Spearman-Brown stepped down to one subject).

    ``targets``: ``(cells, S)``. For each of ``n_splits`` seeded splits, the S subjects are shuffled
    and the first ``h = S // 2`` and next ``h`` form two halves (one subject sits out when S is odd);
    ``r`` = Pearson correlation over cells of the two halves' mean targets, and
    ``r1 = r / (h - (h - 1) r)`` (Spearman-Brown for a mean of 1 instead of h subjects). Returns the
    mean of ``r1`` over splits. Under subjects = shared signal + independent noise, ``r1`` estimates
    the correlation between two subjects = the R2 of one subject regressed on the noise-free shared
    signal, i.e. the best per-subject R2 any predictor can reach: the same scale as ``R2[l, s]``.
    (The usual step-up to S subjects would be the reliability of the group mean, a different scale.)
    """
    targets = np.asarray(targets, dtype=np.float64)
    s = targets.shape[1]
    if s < 2:
        raise DataError("the split_half ceiling needs at least 2 subjects")
    h = s // 2
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(s) for _ in range(n_splits)])          # (splits, S)
    weights = np.zeros((2, n_splits, s))
    rows = np.arange(n_splits)[:, None]
    weights[0, rows, perms[:, :h]] = 1.0 / h
    weights[1, rows, perms[:, h:2 * h]] = 1.0 / h
    halves = targets @ weights.reshape(-1, s).T                               # (cells, 2 * splits)
    halves -= halves.mean(axis=0)
    a, b = halves[:, :n_splits], halves[:, n_splits:]
    r = np.einsum("cs,cs->s", a, b) / np.sqrt(np.einsum("cs,cs->s", a, a) * np.einsum("cs,cs->s", b, b))
    return float(np.mean(r / (h - (h - 1) * r)))


def ceiling_scores(kind: str, mean: np.ndarray, targets: np.ndarray, fold: np.ndarray | None = None, *,
                   n_splits: int = 100, seed: int = 0) -> np.ndarray:
    """``(S,)`` ceiling R2 per subject; ``fold`` None = in-sample, else out-of-fold (split_half: either).

    ``group_mean`` in-sample is :func:`attnhuman.resemblance.ceiling_r2` (the paper); ``split_half``
    gives the same scalar for every subject.
    """
    if kind == "group_mean":
        return ceiling_r2(mean, targets) if fold is None else single_predictor_r2(mean, targets, fold)
    if kind == "loo":
        return single_predictor_r2(loo_means(targets), targets, fold)
    if kind == "split_half":
        return np.full(np.shape(targets)[1], split_half_ceiling(targets, n_splits, seed))
    raise ConfigError(f"analysis.ceiling={kind!r}: choose one of {list(CEILINGS)}")


# ------------------------------------------------------------------------------------- permutations

def sentence_permutations(cells_per_sentence: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """``(n_perm, sentences)`` permutations that only exchange sentences of equal length.

    Row p maps sentence k to ``perm[p, k]``, a sentence with the same number of cells (= words);
    a sentence whose length no other sentence has always maps to itself.
    """
    sizes = np.asarray(cells_per_sentence)
    rng = np.random.default_rng(seed)
    perms = np.tile(np.arange(len(sizes)), (n_perm, 1))
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        if len(members) > 1:
            perms[:, members] = members[rng.permuted(np.tile(np.arange(len(members)), (n_perm, 1)), axis=1)]
    return perms


def immobile_sentences(cells_per_sentence: np.ndarray) -> int:
    """Number of sentences that no within-length permutation can move."""
    _, inverse, counts = np.unique(np.asarray(cells_per_sentence), return_inverse=True, return_counts=True)
    return int((counts[inverse] == 1).sum())


@dataclass
class PermutationResult:
    """Sentence-permutation test of each layer's score (mean R2 over subjects).

    ``observed`` ``(layers,)`` (computed by the permutation engine: equals the reported score up to
    rounding, except for heads designs with cond > 1e5, see :func:`permutation_test`);
    ``null`` ``(n_perm, layers)``; ``p``, ``q`` (Benjamini-Hochberg), ``significant`` ``(layers,)``.
    """

    observed: np.ndarray
    null: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    alpha: float
    n_immobile: int
    n_sentences: int
    seconds: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"layer": np.arange(len(self.p)), "observed": self.observed,
                             "null_mean": self.null.mean(axis=0), "null_max": self.null.max(axis=0),
                             "p": self.p, "q_bh": self.q, "significant": self.significant})


def permutation_test(attention: np.ndarray, targets: np.ndarray, sentence: np.ndarray,
                     fold: np.ndarray | None = None, *, n_perm: int, seed: int = 0, alpha: float = 0.05,
                     score: str = "insample", predictors: str = "heads", n_components: int = 8,
                     alphas=DEFAULT_ALPHAS, max_bytes: float = 128e6) -> PermutationResult:
    """Permutation p-values of every layer's score, with FDR control across layers.

    ``attention`` ``(layers, heads, cells)``; ``targets`` ``(cells, S)``; ``sentence`` ``(cells,)``
    sentence id per cell, contiguous and non-decreasing; ``fold`` ``(cells,)`` as in
    :func:`layer_scores`. Scheme: whole sentences are exchanged among the sentences with the same
    word count (cells align by (row, col)); a sentence with a unique word count cannot move
    (``n_immobile``). Position effects shared by sentences of a length stay in the null, so the
    test asks whether the attention carries sentence-specific information. Implemented by moving
    the subjects' targets (sentence k gets the reading of ``perm[k]``), which for in-sample scores is
    identical to moving the attention the inverse way, and keeps the training Gram matrices fixed;
    in cv mode a cell's fold follows its attention sentence. ``p = (1 + #{null >= observed}) /
    (1 + n_perm)``; ``q`` = Benjamini-Hochberg (``scipy.stats.false_discovery_control``);
    significant when ``q <= alpha``. Rank-deficient head designs (cond > 1e5) use the truncated
    pseudo-inverse here (no lstsq fallback), consistently for observed and null.
    """
    started = time.perf_counter()
    if n_perm < 1:
        raise ConfigError(f"analysis.permutation.n={n_perm}: need at least 1 permutation")
    targets = np.asarray(targets, dtype=np.float64)
    n_layers, n_heads, n = attention.shape
    sentence = np.asarray(sentence)
    if sentence.shape != (n,) or (np.diff(sentence) < 0).any():
        raise DataError("sentence must give one non-decreasing sentence id per cell")
    _, sentence = np.unique(sentence, return_inverse=True)
    sizes = np.bincount(sentence)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = np.arange(n) - starts[sentence]
    perms = np.concatenate([np.arange(len(sizes))[None], sentence_permutations(sizes, n_perm, seed)])
    _centred_targets(targets)
    use_folds = score == "cv" or predictors == "ridge"
    order, bounds, _ = _sorted_by_fold(fold if use_folds else None, n)
    x2 = attention[:, :, order].astype(np.float64).reshape(n_layers * n_heads, n)   # all layers, sorted
    xstats = _x_stats(x2, n_heads, bounds)
    s = targets.shape[1]
    k = len(bounds) - 1
    per_chunk = max(1, int(max_bytes // (8 * s * (k * n_layers * n_heads + 2 * n))))
    layer_chunk = max(1, int(max_bytes // (8 * 10 * n_heads * per_chunk * s)))
    caches = {}                                     # per layer chunk: target-independent eigenbases
    stats = np.empty((len(perms), n_layers))
    for p0 in range(0, len(perms), per_chunk):
        maps = starts[perms[p0:p0 + per_chunk][:, sentence]] + local                # (P, cells)
        y = np.swapaxes(targets[maps[:, order]], 0, 1).reshape(n, -1)            # (cells, P * S)
        sy, syy = _y_stats(y, bounds)
        pxy = _cross(x2, n_heads, y, bounds)                                       # (K, layers, heads, P * S)
        for l0 in range(0, n_layers, layer_chunk):
            part = slice(l0, l0 + layer_chunk)
            st = _FoldStats(np.diff(bounds), xstats[0][:, part], xstats[1][:, part], sy, syy, pxy[:, part])
            sse = _procedure_sse(st, score, predictors, n_components, alphas, caches.setdefault(l0, {}))[0].sum(0)
            r2 = 1.0 - sse / st.sst                                                # (B, P * S)
            stats[p0:p0 + per_chunk, part] = r2.reshape(r2.shape[0], -1, s).mean(-1).T
    observed, null = stats[0], stats[1:]
    exceed = (null >= observed - 1e-12 - 1e-9 * np.abs(observed)).sum(axis=0)
    p = (1.0 + exceed) / (1.0 + n_perm)
    q = false_discovery_control(p, method="bh")
    return PermutationResult(observed, null, p, q, q <= alpha, alpha, immobile_sentences(sizes), len(sizes),
                             time.perf_counter() - started)


# ------------------------------------------------------------------------------------- entry point

@dataclass
class ScoredResemblance(GroupResemblance):
    """:class:`GroupResemblance` under :class:`ScoreOptions`, with the permutation test when enabled.

    ``ridge_alphas``: chosen penalties ``(K or 1, layers, subjects)`` for ``predictors=ridge``.
    """

    options: ScoreOptions = field(default_factory=ScoreOptions)
    permutation: PermutationResult | None = None
    ridge_alphas: np.ndarray | None = None

    @property
    def suffix(self) -> str:
        return self.options.suffix


def score_group(store: AttentionStore, cohort: Cohort, corpus: Corpus, analysis_cfg: Mapping | None) -> ScoredResemblance:
    """Resemblance of every layer of ``store`` to ``cohort`` under the ``analysis`` options.

    The paper default (insample, heads, group_mean) gives exactly
    :func:`attnhuman.resemblance.group_resemblance`.
    """
    opts = ScoreOptions.from_config(analysis_cfg)
    opts.check(n_heads=store.n_heads)
    if store.attention.shape[2] != corpus.n_cells or len(cohort.cell_mask) != corpus.n_cells:
        raise DataError(f"the attention has {store.attention.shape[2]} cells, the cohort "
                        f"{len(cohort.cell_mask)}, the corpus {corpus.n_cells}: they must share one cell index")
    attention = store.attention[:, :, cohort.cell_mask]
    sentence = np.repeat(np.arange(len(corpus)), n_cells(corpus.n_words))[cohort.cell_mask]
    fold = None
    if opts.needs_folds:
        article = np.repeat(np.arange(len(corpus.sentences_per_article)), corpus.sentences_per_article)
        groups = sentence if opts.cv_unit == "sentence" else article[sentence]
        fold = cell_folds(groups, opts.cv_folds, opts.cv_seed, opts.cv_unit)
    r2, chosen = layer_scores(attention, cohort.targets, fold, score=opts.score, predictors=opts.predictors,
                              n_components=opts.n_components, alphas=opts.alphas, return_alphas=True)
    ceiling = ceiling_scores(opts.ceiling, cohort.mean, cohort.targets, fold if opts.score == "cv" else None,
                             n_splits=opts.split_half_splits, seed=opts.split_half_seed)
    permutation = None
    if opts.n_perm:
        permutation = permutation_test(attention, cohort.targets, sentence, fold, n_perm=opts.n_perm,
                                       seed=opts.perm_seed, alpha=opts.perm_alpha, score=opts.score,
                                       predictors=opts.predictors, n_components=opts.n_components,
                                       alphas=opts.alphas)
    return ScoredResemblance(cohort.group, cohort.subjects, r2, ceiling, options=opts,
                             permutation=permutation, ridge_alphas=chosen)
