"""The regression kernel of human resemblance (docs/method.md section 4): in-sample R2 of OLS, vectorized.

Per layer, one factorization of the centred ``(cells, heads)`` design serves every subject of a
group at once (multi-target least squares with intercept): the in-sample R2 of subject s is the
share of its centred target's energy in the column space of the design.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from attnhuman.errors import DataError
from attnhuman.shapes import Cells, CellsSubjects, LayerHeadCells, LayersSubjects, Subjects

MIN_EIGEN_RATIO = 1e-10      # designs with cond > 1e5 go through the rank-revealing SVD


def centred_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-centred ``(cells, subjects)`` targets and their total sums of squares."""
    centred = targets - targets.mean(axis=0)
    sst = np.einsum("cs,cs->s", centred, centred)
    if (sst == 0).any():
        raise DataError(f"subjects {np.flatnonzero(sst == 0).tolist()} have a constant target: R2 is undefined.")
    return centred, sst


def design_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """In-sample R2 of OLS with intercept for each target column.

    ``design``: ``(..., cells, features)``; ``targets``: ``(cells, subjects)``.
    Returns ``(..., subjects)``. Well-conditioned designs go through the eigen-decomposition of
    their small Gram matrix; ill-conditioned or rank-deficient ones through a thin SVD with the
    rank cut-off of ``numpy.linalg.lstsq``.
    """
    centred, sst = centred_targets(np.asarray(targets, dtype=np.float64))
    design = np.asarray(design)
    x = design.reshape((-1,) + design.shape[-2:]).astype(np.float64)     # (batch, cells, f)
    x -= x.mean(axis=1, keepdims=True)
    xt = np.swapaxes(x, -1, -2)
    with threadpool_limits(limits=1, user_api="blas"):             # small matrices: threads only cost
        w, v = np.linalg.eigh(xt @ x)                              # (batch, f), (batch, f, f)
    coords = np.swapaxes(v, -1, -2) @ (xt @ centred)               # (batch, f, subjects)
    well = w[:, 0] > w[:, -1] * MIN_EIGEN_RATIO                   # cond(design) < 1e5
    ssr = np.einsum("bfs,bfs->bs", coords, coords / np.where(well[:, None], w, 1.0)[..., None])
    for b in np.flatnonzero(~well):
        ssr[b] = _svd_ssr(x[b], centred)
    return (ssr / sst).reshape(design.shape[:-2] + (centred.shape[1],))



def _svd_ssr(x: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Regression sum of squares of a centred ``(cells, features)`` design, rank-revealing."""
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    u = u[:, sv > sv[0] * max(x.shape) * np.finfo(np.float64).eps]
    projections = u.T @ centred
    return np.einsum("fs,fs->s", projections, projections)


def layer_r2(attention: LayerHeadCells, targets: CellsSubjects, chunk: int = 8) -> LayersSubjects:
    """``(layers, subjects)`` R2 with each layer's heads as predictors.

    ``attention``: ``(layers, heads, cells)`` (any float dtype); ``targets``: ``(cells, subjects)``.
    """
    out = np.empty((attention.shape[0], targets.shape[1]))
    for start in range(0, attention.shape[0], chunk):
        block = np.swapaxes(attention[start:start + chunk], 1, 2)        # (chunk, cells, heads)
        out[start:start + chunk] = design_r2(block, targets)
    return out


def ceiling_r2(mean: Cells, targets: CellsSubjects) -> Subjects:
    """``(subjects,)`` R2 of each subject regressed on the group mean (inter-subject agreement)."""
    return design_r2(np.asarray(mean, dtype=np.float64)[:, None], targets)
