"""Human resemblance (METHOD.md section 4, paper section 3.2), vectorized.

Per layer, one factorization of the centred ``(cells, heads)`` design serves every subject of a
group at once (multi-target least squares with intercept): the in-sample R2 of subject s is the
share of its centred target's energy in the column space of the design.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from threadpoolctl import threadpool_limits

from attnhuman.attention import AttentionStore
from attnhuman.errors import DataError
from attnhuman.humans import Cohort


def _centred_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    centred, sst = _centred_targets(np.asarray(targets, dtype=np.float64))
    design = np.asarray(design)
    x = design.reshape((-1,) + design.shape[-2:]).astype(np.float64)     # (batch, cells, f)
    x -= x.mean(axis=1, keepdims=True)
    xt = np.swapaxes(x, -1, -2)
    with threadpool_limits(limits=1, user_api="blas"):             # small matrices: threads only cost
        w, v = np.linalg.eigh(xt @ x)                              # (batch, f), (batch, f, f)
    coords = np.swapaxes(v, -1, -2) @ (xt @ centred)               # (batch, f, subjects)
    well = w[:, 0] > w[:, -1] * _MIN_EIGEN_RATIO                   # cond(design) < 1e5
    ssr = np.einsum("bfs,bfs->bs", coords, coords / np.where(well[:, None], w, 1.0)[..., None])
    for b in np.flatnonzero(~well):
        ssr[b] = _svd_ssr(x[b], centred)
    return (ssr / sst).reshape(design.shape[:-2] + (centred.shape[1],))


_MIN_EIGEN_RATIO = 1e-10


def _svd_ssr(x: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Regression sum of squares of a centred ``(cells, features)`` design, rank-revealing."""
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    u = u[:, sv > sv[0] * max(x.shape) * np.finfo(np.float64).eps]
    projections = u.T @ centred
    return np.einsum("fs,fs->s", projections, projections)


def layer_r2(attention: np.ndarray, targets: np.ndarray, chunk: int = 8) -> np.ndarray:
    """``(layers, subjects)`` R2 with each layer's heads as predictors.

    ``attention``: ``(layers, heads, cells)`` (any float dtype); ``targets``: ``(cells, subjects)``.
    """
    out = np.empty((attention.shape[0], targets.shape[1]))
    for start in range(0, attention.shape[0], chunk):
        block = np.swapaxes(attention[start:start + chunk], 1, 2)        # (chunk, cells, heads)
        out[start:start + chunk] = design_r2(block, targets)
    return out


def ceiling_r2(mean: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(subjects,)`` R2 of each subject regressed on the group mean (inter-subject agreement)."""
    return design_r2(np.asarray(mean, dtype=np.float64)[:, None], targets)


@dataclass
class GroupResemblance:
    """A run's resemblance to one group. ``r2``: ``(layers, subjects)``; ``ceiling_r2``: ``(subjects,)``."""

    group: str
    subjects: list[str]
    r2: np.ndarray
    ceiling_r2: np.ndarray

    @cached_property
    def layer_r2(self) -> np.ndarray:
        """``(layers,)`` mean R2 over subjects."""
        return self.r2.mean(axis=1)

    @cached_property
    def layer_sem(self) -> np.ndarray:
        return self.r2.std(axis=1, ddof=1) / np.sqrt(self.r2.shape[1])

    @property
    def best_layer(self) -> int:
        return int(np.argmax(self.layer_r2))

    @property
    def r2_model(self) -> float:
        return float(self.layer_r2.max())

    @property
    def ceiling(self) -> float:
        return float(self.ceiling_r2.mean())

    @property
    def resemblance(self) -> float:
        """Percent of the ceiling reached by the best layer."""
        return 100.0 * self.r2_model / self.ceiling

    @property
    def layer_resemblance(self) -> np.ndarray:
        return 100.0 * self.layer_r2 / self.ceiling


def group_resemblance(store: AttentionStore, cohort: Cohort) -> GroupResemblance:
    """Resemblance of every layer of ``store`` to ``cohort`` on the cohort's kept cells."""
    attention = store.attention[:, :, cohort.cell_mask]
    return GroupResemblance(cohort.group, cohort.subjects, layer_r2(attention, cohort.targets),
                            ceiling_r2(cohort.mean, cohort.targets))
