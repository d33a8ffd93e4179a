"""Independent reference computations (numpy, scikit-learn, plain loops) that the package's numbers are held to."""
import pickle
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold

from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.humans.reading_brain.layout import REGIONS
from helpers.paths import READING_BRAIN


def lstsq_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """OLS with intercept by numpy.linalg.lstsq, R2 per target column."""
    x = np.column_stack([np.ones(len(design)), design])
    coef = np.linalg.lstsq(x, targets, rcond=None)[0]
    residual = targets - x @ coef
    centred = targets - targets.mean(axis=0)
    return 1 - (residual ** 2).sum(axis=0) / (centred ** 2).sum(axis=0)


def oof_r2(predict, x, y, fold):
    """Out-of-fold R2: concatenated per-fold predictions, SST around the overall mean."""
    yhat = np.empty_like(y)
    for k in np.unique(fold):
        test = fold == k
        yhat[test] = predict(x[~test], y[~test], x[test])
    return 1 - ((y - yhat) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def sklearn_folds(groups, k, seed):
    """Folds of scikit-learn GroupKFold with shuffling, as a fold index per cell."""
    fold = np.empty(len(groups), dtype=int)
    for i, (_, test) in enumerate(GroupKFold(k, shuffle=True, random_state=seed).split(groups, groups=groups)):
        fold[test] = i
    return fold


def ols_predict(xtr, ytr, xte):
    """OLS with intercept (scikit-learn) fitted on the training cells, predicting the test cells."""
    return LinearRegression().fit(xtr, ytr).predict(xte)


def write_pickle(path: Path, obj) -> None:
    if path.is_symlink():
        path.unlink()
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def read_pickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)  # test-only: real release files, plain pickle as reference


def reference_cohort(group, sfx, exclude, kept_sentences):
    """The proxy cohort by plain loops over the raw pickles."""
    rois = [read_pickle(READING_BRAIN / "roi_activations" / group / f"activations_{r}_{sfx}.pkl") for r in REGIONS]
    means = [m for article in read_pickle(READING_BRAIN / f"mean_saccade_num_{sfx}.pkl") for m in article]
    columns = []
    for s in range(len(rois[0])):
        cells = []
        for k in kept_sentences:
            hit = None
            for roi in rois:
                if not roi[s]:
                    continue
                sentence = [x for article in roi[s] for x in article][k]
                try:
                    m = np.array(sentence, dtype=float)
                except ValueError:
                    continue
                m[np.isnan(m)] = 0
                hit = (m != 0) if hit is None else (hit | (m != 0))
            if hit is None:
                break
            cells.append(hit[np.tril_indices(len(hit))])
        if len(cells) == len(kept_sentences) and s not in exclude:
            columns.append(np.concatenate(cells).astype(float))
    mean = np.concatenate([np.asarray(means[k])[np.tril_indices(len(means[k]))] for k in kept_sentences])
    return np.column_stack(columns), mean


def random_store(corpus, seed, layers=1, heads=4, concentration=0.3):
    """Seeded random attention: every row of every head a Dirichlet draw over j <= i (sums to 1)."""
    rng = np.random.default_rng(seed)
    sent, rows, _ = tril_cells(corpus.n_words)
    row_id = np.concatenate([[0], np.cumsum(corpus.n_words)])[:-1][sent] + rows
    raw = rng.gamma(concentration, size=(layers, heads, corpus.n_cells))
    sums = np.stack([[np.bincount(row_id, weights=raw[l, h]) for h in range(heads)] for l in range(layers)])
    return AttentionStore((raw / sums[..., row_id]).astype(np.float32), corpus.n_words.copy(),
                          corpus.sentences_per_article.copy())
