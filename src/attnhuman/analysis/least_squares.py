"""The one least-squares engine of every R2 in the package (docs/method.md, "Human resemblance", "Score options").

OLS with intercept, multi-target and vectorized, from per-fold sufficient statistics (sums, Gram and cross-product
matrices): per design (a layer's heads, a group mean, the three trivial patterns) one eigendecomposition of the
centred training Gram matrix serves every target, filter (heads: OLS; pcs; ridge) and permutation. In-sample R2 is
the one-fold case. A design whose centred Gram matrix is ill-conditioned (cond > 1e5, or rank-deficient) is fitted
exactly instead, from the thin SVD of its centred training cells with the rank cut of ``numpy.linalg.lstsq``
(:func:`exact_sse`), for all targets at once: an in-sample score, a cross-validated one and a permutation test's
null take the same path.

Out-of-fold R2: the cells of fold k are predicted by the fit (intercept and coefficients) on the other folds; the
out-of-fold predictions of all kept cells are concatenated and
``R2_cv[s] = 1 - sum_c (y[c,s] - yhat[c,s])^2 / sum_c (y[c,s] - ybar[s])^2`` with ``ybar[s]`` the subject's mean
over ALL kept cells (negative when worse than that mean). Designs and targets are centred on their overall means
first (OLS with intercept is unchanged by it), so the Gram matrices are accumulated without cancellation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from attnhuman.analysis.options import RidgeOptions, ScoreOptions
from attnhuman.errors import ConfigError, DataError
from attnhuman.shapes import Cells, CellsSubjects, LayerHeadCells, LayersSubjects, Subjects

MIN_EIGEN_RATIO = 1e-10      # designs with cond > 1e5 are fitted exactly (exact_sse)


def centred_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-centred ``(cells, subjects)`` targets and their total sums of squares."""
    centred = targets - targets.mean(axis=0)
    sst = np.einsum("cs,cs->s", centred, centred)
    if (sst == 0).any():
        raise DataError(f"subjects {np.flatnonzero(sst == 0).tolist()} have a constant target: R2 is undefined.")
    return centred, sst


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


@dataclass
class FoldStats:
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


def x_stats(x2: np.ndarray, n_features: int, bounds: np.ndarray):
    """``(sx, gxx)`` of ``x2`` ``(B*F, cells)`` float64, cells sorted by fold (fold k = ``bounds[k]:bounds[k+1]``)."""
    k, b = len(bounds) - 1, x2.shape[0] // n_features
    sx = np.empty((k, b, n_features))
    gxx = np.empty((k, b, n_features, n_features))
    for i in range(k):
        xs = x2[:, bounds[i]:bounds[i + 1]].reshape(b, n_features, -1)
        sx[i] = xs.sum(-1)
        gxx[i] = xs @ np.swapaxes(xs, 1, 2)
    return sx, gxx


def y_stats(y: np.ndarray, bounds: np.ndarray):
    """``(sy, syy)`` ``(K, S)`` of ``y`` ``(cells, S)`` sorted by fold."""
    sy = np.stack([y[a:e].sum(0) for a, e in zip(bounds[:-1], bounds[1:])])
    syy = np.stack([np.einsum("cs,cs->s", y[a:e], y[a:e]) for a, e in zip(bounds[:-1], bounds[1:])])
    return sy, syy


def cross(x2: np.ndarray, n_features: int, y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``(K, B, F, S)`` per-fold ``X^T y``; one GEMM per fold."""
    b = x2.shape[0] // n_features
    return np.stack([(x2[:, a:e] @ y[a:e]).reshape(b, n_features, -1) for a, e in zip(bounds[:-1], bounds[1:])])


def fold_stats(x2, n_features, y, bounds) -> FoldStats:
    """Statistics of ``x2`` ``(B*F, cells)`` and ``y`` ``(cells, S)``, both sorted by fold."""
    return FoldStats(np.diff(bounds), *x_stats(x2, n_features, bounds), *y_stats(y, bounds),
                      cross(x2, n_features, y, bounds))


def _filters(w: np.ndarray, predictors: str, n_components: int, alphas) -> np.ndarray:
    """``(A, B, F)`` spectral filters ``phi(w)`` on ascending Gram eigenvalues ``w`` ``(B, F)``.

    Coefficients are ``V diag(phi) V^T X_c^T y``: OLS (pseudo-inverse, directions with
    ``w <= w_max * 1e-10`` dropped), principal-components regression (the top ``n_components``),
    ridge ``1 / (w + alpha)`` per alpha.
    """
    usable = w > w[:, -1:] * MIN_EIGEN_RATIO
    if predictors == "ridge":
        return 1.0 / (np.clip(w, 0, None)[None] + np.asarray(alphas, dtype=np.float64)[:, None, None])
    if predictors == "pcs":
        usable &= np.arange(w.shape[1]) >= w.shape[1] - n_components
    return np.where(usable, 1.0 / np.where(usable, w, 1.0), 0.0)[None]


def _basis(st: FoldStats, train, test, predictors, n_components, alphas) -> dict:
    """The target-independent part of a (train, test) fit: training means, eigenbasis, filters, test Gram."""
    nt, sxt, gt = st.total(train, "n sx gxx")
    xb = sxt / nt
    w, v = np.linalg.eigh(gt - nt * xb[:, :, None] * xb[:, None, :])
    out = dict(nt=nt, xb=xb, w=w, v=v, vt=np.swapaxes(v, 1, 2), phi=_filters(w, predictors, n_components, alphas),
               ill=w[:, 0] <= w[:, -1] * MIN_EIGEN_RATIO, same=np.array_equal(train, test))
    if not out["same"]:
        ne, sxe, ge = st.total(test, "n sx gxx")
        h = ge - sxe[:, :, None] * xb[:, None, :] - xb[:, :, None] * sxe[:, None, :] + ne * xb[:, :, None] * xb[:, None, :]
        out.update(ne=ne, sxe=sxe, ht=out["vt"] @ h @ v)
    return out


def _sse(st: FoldStats, train, test, predictors: str, n_components: int, alphas, cache: dict | None = None):
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


def held_out_pairs(score: str, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train folds, test folds) masks: K held-out folds (cv) or all/all (insample)."""
    if score == "insample":
        every = np.ones(k, dtype=bool)
        return [(every, every)]
    eye = np.eye(k, dtype=bool)
    return [(~eye[i], eye[i]) for i in range(k)]


def procedure_sse(st: FoldStats, score: str, predictors: str, n_components: int, alphas, cache=None):
    """SSE per pair ``(pairs, B, S)``, ill flags ``(pairs, B)`` and ridge choices ``(pairs, B, S)`` or None.

    Runs single-threaded: its many small eigendecompositions are several times slower with OpenBLAS threads.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _procedure_sse_unlimited(st, score, predictors, n_components, alphas, cache)


def _procedure_sse_unlimited(st: FoldStats, score: str, predictors: str, n_components: int, alphas, cache):
    pairs = held_out_pairs(score, len(st.n))
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


def exact_sse(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """``(S,)`` SSE on the ``test`` cells of OLS with intercept fitted on the ``train`` cells (boolean masks), exactly:
    the thin SVD of the centred training design ``x`` ``(cells, F)``, singular values below ``s_max * max(shape) *
    eps`` dropped (``numpy.linalg.lstsq``'s cut), for every target column of ``y`` ``(cells, S)`` at once."""
    xt, yt = x[train], y[train]
    xb, yb = xt.mean(axis=0), yt.mean(axis=0)
    u, sv, vt = np.linalg.svd(xt - xb, full_matrices=False)
    keep = sv > (sv[0] if sv.size else 0.0) * max(xt.shape) * np.finfo(np.float64).eps
    coef = vt[keep].T @ ((u[:, keep].T @ (yt - yb)) / sv[keep][:, None])            # (F, S)
    residual = y[test] - yb - (x[test] - xb) @ coef
    return np.einsum("cs,cs->s", residual, residual)


def sorted_by_fold(fold: np.ndarray | None, n: int):
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


def design_sse(x2: np.ndarray, n_features: int, y: np.ndarray, bounds: np.ndarray, sorted_fold: np.ndarray,
               score: str, predictors: str, n_components: int, alphas, cache: dict | None = None):
    """SSE summed over the held-out pairs ``(B, T)`` of every design of ``x2`` ``(B*F, cells)`` for every target of
    ``y`` ``(cells, T)`` (both centred and sorted by fold), ridge choices ``(pairs, B, T)`` or None: the spectral
    route, and :func:`exact_sse` for heads designs it cannot trust."""
    sse, ill, chosen = procedure_sse(fold_stats(x2, n_features, y, bounds), score, predictors, n_components, alphas,
                                     cache)
    if predictors == "heads":
        x = x2.reshape(-1, n_features, x2.shape[1])
        for p, (train, test) in enumerate(held_out_pairs(score, len(bounds) - 1)):
            for b in np.flatnonzero(ill[p]):
                sse[p, b] = exact_sse(x[b].T, y, train[sorted_fold], test[sorted_fold])
    return sse.sum(0), chosen


def layer_scores(attention: LayerHeadCells, targets: CellsSubjects, fold: Cells | None = None, *,
                 score: str = "insample", predictors: str = "heads", n_components: int = 8,
                 alphas=None, chunk: int = 8, return_alphas: bool = False):
    """``(layers, subjects)`` R2 of each layer's predictors for each subject.

    ``attention``: ``(layers, heads, cells)`` (any float dtype; heads may be any features: a mean, patterns);
    ``targets``: ``(cells, subjects)``; ``fold``: ``(cells,)`` fold index 0..K-1, needed for ``score='cv'`` and
    ``predictors='ridge'``. ``insample`` + ``heads`` is the paper's score. With ``return_alphas`` also the chosen
    ridge penalties ``(K or 1, layers, subjects)`` (else None).
    """
    targets = np.asarray(targets, dtype=np.float64)
    n_layers, n_heads, n = attention.shape
    if targets.shape[0] != n:
        raise DataError(f"attention has {n} cells, targets {targets.shape[0]}")
    alphas = tuple(RidgeOptions().alphas if alphas is None else alphas)
    ScoreOptions(score=score, predictors=predictors, n_components=n_components,
                 ridge=RidgeOptions(list(alphas))).check(n_heads=n_heads)
    if (score == "cv" or predictors == "ridge") and fold is None:
        raise DataError(f"score={score!r} with predictors={predictors!r} needs a fold per cell")
    y, sst = centred_targets(targets)
    order, bounds, sorted_fold = sorted_by_fold(fold if (score == "cv" or predictors == "ridge") else None, n)
    if score == "cv" and predictors == "ridge" and len(bounds) < 4:
        raise ConfigError("score=cv with predictors=ridge needs at least 3 folds")
    y = y[order]
    out = np.empty((n_layers, targets.shape[1]))
    chosen_all = []
    for start in range(0, n_layers, chunk):
        block = attention[start:start + chunk][:, :, order].astype(np.float64)
        block -= block.mean(axis=2, keepdims=True)
        sse, chosen = design_sse(block.reshape(-1, n), n_heads, y, bounds, sorted_fold, score, predictors,
                                 n_components, alphas)
        out[start:start + chunk] = 1.0 - sse / sst
        if chosen is not None:
            chosen_all.append(np.asarray(alphas)[chosen])
    if not return_alphas:
        return out
    return out, (np.concatenate(chosen_all, axis=1) if chosen_all else None)


def design_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """In-sample R2 of OLS with intercept for each target column: ``design`` ``(..., cells, features)``,
    ``targets`` ``(cells, subjects)``; returns ``(..., subjects)``."""
    design = np.asarray(design)
    batch = design.reshape((-1,) + design.shape[-2:])
    return layer_scores(np.swapaxes(batch, 1, 2), targets).reshape(design.shape[:-2] + (np.shape(targets)[1],))


def layer_r2(attention: LayerHeadCells, targets: CellsSubjects, chunk: int = 8) -> LayersSubjects:
    """``(layers, subjects)`` in-sample R2 with each layer's heads as predictors (the paper's score)."""
    return layer_scores(attention, targets, chunk=chunk)


def ceiling_r2(mean: Cells, targets: CellsSubjects) -> Subjects:
    """``(subjects,)`` R2 of each subject regressed on the group mean (inter-subject agreement)."""
    return design_r2(np.asarray(mean, dtype=np.float64)[:, None], targets)



def nested_held_out(base: np.ndarray, extra: np.ndarray, y: np.ndarray, fold: np.ndarray, score: str):
    """OLS with intercept of ``y`` ``(cells,)`` on ``base`` ``(cells, P)`` and on ``[base, extra[:, l]]`` for every
    ``l`` of ``extra`` ``(cells, L, Q)`` (nested designs sharing the baseline), fitted on the folds other than each
    cell's (``score='cv'``, ``fold`` ``(cells,)`` 0..K-1) or on all cells (``'insample'``, one fold).

    Returns each cell's residual under the fit that scores it, ``(cells,)`` and ``(cells, L)``, and each fit's
    training RSS / N, ``(K,)`` and ``(K, L)``. From per-fold Gram matrices of the columns centred on their overall
    means and scaled to unit SD (one GEMM per fold), then per held-out fold one pseudo-inverse of the baseline's
    centred training Gram and a batch of the ``L`` full designs' (directions below ``1e-10`` of the largest
    eigenvalue dropped).
    """
    n, n_layers, q = extra.shape
    p = base.shape[1]
    x = np.concatenate([base, extra.reshape(n, n_layers * q)], axis=1)
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    x /= np.where(sd > 0, sd, 1.0)
    z = np.concatenate([x, (y - y.mean())[:, None]], axis=1)                       # (cells, m), y last
    order, bounds, _ = sorted_by_fold(fold, n)
    sz, gzz = x_stats(np.ascontiguousarray(z[order].T), z.shape[1], bounds)       # (K, 1, m), (K, 1, m, m)
    full = np.concatenate([np.broadcast_to(np.arange(p), (n_layers, p)), p + np.arange(n_layers * q).reshape(-1, q)],
                          axis=1)                                                 # (L, P + Q) columns of each design
    k = len(bounds) - 1
    rb, rf = np.empty(n), np.empty((n, n_layers))
    vb, vf = np.empty(k), np.empty((k, n_layers))
    for f, (train, test) in enumerate(held_out_pairs(score, k)):
        nt = np.diff(bounds)[train].sum()
        mean = sz[train, 0].sum(0) / nt
        c = gzz[train, 0].sum(0) - nt * np.outer(mean, mean)                      # centred training Gram (m, m)
        beta_b = np.linalg.pinv(c[:p, :p], rcond=MIN_EIGEN_RATIO, hermitian=True) @ c[:p, -1]
        a = c[full[:, :, None], full[:, None, :]]                                 # (L, P + Q, P + Q)
        beta_f = np.einsum("lij,lj->li", np.linalg.pinv(a, rcond=MIN_EIGEN_RATIO, hermitian=True), c[full, -1])
        vb[f] = (c[-1, -1] - c[:p, -1] @ beta_b) / nt
        vf[f] = (c[-1, -1] - (c[full, -1] * beta_f).sum(1)) / nt
        rows = np.flatnonzero(test[fold])
        zt = z[rows] - mean
        rb[rows] = zt[:, -1] - zt[:, :p] @ beta_b
        fitted = zt[:, :p] @ beta_f[:, :p].T                                      # (rows, L)
        for j in range(q):
            fitted += zt[:, p + j:p + n_layers * q:q] * beta_f[:, p + j]
        rf[rows] = zt[:, -1:] - fitted
    return rb, rf, vb, vf
