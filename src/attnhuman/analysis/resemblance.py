"""Human resemblance of a run's attention (docs/method.md, "Human resemblance"): per-layer R2, ceiling, resemblance.

:func:`group_resemblance` is the paper's score; :func:`score_group` the same under any
:class:`~attnhuman.analysis.options.ScoreOptions` (cross-validation, PCs, ridge, other ceilings, permutation test).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from attnhuman.analysis.ceilings import ceiling_scores
from attnhuman.analysis.least_squares import ceiling_r2, cell_folds, layer_r2, layer_scores
from attnhuman.analysis.options import ScoreOptions
from attnhuman.analysis.permutation import PermutationResult, permutation_test
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import Corpus, n_cells
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort
from attnhuman.shapes import LayersSubjects, Subjects


@dataclass
class GroupResemblance:
    """A run's resemblance to one group: R2 of every layer for every subject, and each subject's ceiling."""

    group: str
    subjects: list[str]
    r2: LayersSubjects
    ceiling_r2: Subjects

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


def score_group(store: AttentionStore, cohort: Cohort, corpus: Corpus, options: ScoreOptions | None = None) -> ScoredResemblance:
    """Resemblance of every layer of ``store`` to ``cohort`` under the ``analysis`` options.

    The paper default (insample, heads, group_mean) gives exactly
    :func:`group_resemblance`.
    """
    opts = (options or ScoreOptions()).check(n_heads=store.n_heads)
    if store.attention.shape[2] != corpus.n_cells or len(cohort.cell_mask) != corpus.n_cells:
        raise DataError(f"the attention has {store.attention.shape[2]} cells, the cohort "
                        f"{len(cohort.cell_mask)}, the corpus {corpus.n_cells}: they must share one cell index")
    attention = store.attention[:, :, cohort.cell_mask]
    sentence = np.repeat(np.arange(len(corpus)), n_cells(corpus.n_words))[cohort.cell_mask]
    fold = None
    if opts.needs_folds:
        article = np.repeat(np.arange(len(corpus.sentences_per_article)), corpus.sentences_per_article)
        groups = sentence if opts.cv.unit == "sentence" else article[sentence]
        fold = cell_folds(groups, opts.cv.folds, opts.cv.seed, opts.cv.unit)
    r2, chosen = layer_scores(attention, cohort.targets, fold, score=opts.score, predictors=opts.predictors,
                              n_components=opts.n_components, alphas=opts.ridge.alphas, return_alphas=True)
    ceiling = ceiling_scores(opts.ceiling, cohort.mean, cohort.targets, fold if opts.score == "cv" else None,
                             n_splits=opts.split_half.n_splits, seed=opts.split_half.seed)
    permutation = None
    if opts.permutation.n:
        permutation = permutation_test(attention, cohort.targets, sentence, fold, n_perm=opts.permutation.n,
                                       seed=opts.permutation.seed, alpha=opts.permutation.alpha, score=opts.score,
                                       predictors=opts.predictors, n_components=opts.n_components,
                                       alphas=opts.ridge.alphas)
    return ScoredResemblance(cohort.group, cohort.subjects, r2, ceiling, options=opts,
                             permutation=permutation, ridge_alphas=chosen)
