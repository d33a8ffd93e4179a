"""fMRI resemblance (docs/method.md, "fMRI"; paper appendix D): the regression of "Human resemblance" per ROI region.

Each region's cohort (:mod:`attnhuman.humans.reading_brain.fmri`) is scored like the saccade cohorts: each layer's heads
predict each subject, in-sample R2, mean over subjects, resemblance = 100 * max layer R2 / ceiling.

Legacy score ``legacy_pearson`` (not the default, not comparable to "Human resemblance"): the released code's
inter-subject score, the Pearson r between a subject and the region mean within each sentence,
averaged over sentences, then over subjects.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.analysis.least_squares import ceiling_r2, layer_r2
from attnhuman.analysis.resemblance import GroupResemblance
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import Corpus
from attnhuman.humans.cohort import Cohort

SCORES = ("r2", "legacy_pearson")


def fmri_resemblance(store: AttentionStore, cohorts: dict[str, Cohort]) -> dict[str, GroupResemblance]:
    """``{key: GroupResemblance}`` for cohorts ``{key: Cohort}`` (e.g. regions of one group).

    Cohorts that share the cell mask are fitted in one multi-target call of
    :func:`attnhuman.resemblance.layer_r2` (one factorization per layer for all regions); ``r2`` of each
    result is ``(layers, subjects)``, ``ceiling_r2`` ``(subjects,)``.
    """
    results: dict[str, GroupResemblance] = {}
    batches: dict[bytes, list[str]] = {}
    for key, cohort in cohorts.items():
        batches.setdefault(np.packbits(cohort.cell_mask).tobytes(), []).append(key)
    for keys in batches.values():
        mask = cohorts[keys[0]].cell_mask
        r2 = layer_r2(store.attention[:, :, mask], np.hstack([cohorts[k].targets for k in keys]))
        bounds = np.cumsum([0] + [len(cohorts[k].subjects) for k in keys])
        for key, start, stop in zip(keys, bounds[:-1], bounds[1:]):
            c = cohorts[key]
            results[key] = GroupResemblance(c.group, c.subjects, r2[:, start:stop], ceiling_r2(c.mean, c.targets))
    return {k: results[k] for k in cohorts}


def legacy_pearson(cohort: Cohort, corpus: Corpus) -> np.ndarray:
    """``(subjects,)`` the released code's score: per kept sentence, the Pearson r between the subject's
    cells and the mean's cells, averaged over the sentences where both vary (others have no r)."""
    sizes = np.diff(corpus.offsets)[cohort.keep]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    y, m = cohort.targets, cohort.mean[:, None]

    def per_sentence(x):                                       # (cells, k) -> (sentences, k) sums
        return np.add.reduceat(x, starts, axis=0)

    n = sizes[:, None].astype(np.float64)
    sy, sm = per_sentence(y), per_sentence(m)
    cov = per_sentence(y * m) - sy * sm / n
    vy = per_sentence(y * y) - sy ** 2 / n
    vm = per_sentence(m * m) - sm ** 2 / n
    valid = (vy > 1e-12 * per_sentence(y * y)) & (vm > 1e-12 * per_sentence(m * m))   # both vary
    r = np.where(valid, cov / np.sqrt(np.where(valid, vy * vm, 1.0)), 0.0)
    return r.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)


def fmri_table(results: dict[tuple[str, str], GroupResemblance]) -> pd.DataFrame:
    """Long table ``region, group, layer, r2, resemblance`` of ``{(region, group): GroupResemblance}``."""
    frames = [pd.DataFrame({"region": region, "group": group, "layer": np.arange(len(res.layer_r2)),
                            "r2": res.layer_r2, "resemblance": res.layer_resemblance})
              for (region, group), res in results.items()]
    return pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["region", "group", "layer", "r2", "resemblance"])


def fmri_summary(store: AttentionStore, cohorts: dict[str, dict[str, Cohort]], score: str = "r2",
                 corpus: Corpus | None = None) -> tuple[dict[tuple[str, str], GroupResemblance], dict[str, float]]:
    """Score ``cohorts`` ``{group: {region: Cohort}}``: ``({(region, group): result}, summary metrics)``.

    Summary keys: ``fmri_resemblance_<region>_<group>``, ``fmri_ceiling_*``, ``fmri_best_layer_*``,
    ``fmri_n_subjects_*``, ``fmri_n_sentences_*``; ``score="legacy_pearson"`` adds
    ``fmri_legacy_pearson_*`` (needs ``corpus``).
    """
    if score not in SCORES:
        raise ValueError(f"score={score!r}: choose one of {list(SCORES)}")
    results: dict[tuple[str, str], GroupResemblance] = {}
    summary: dict[str, float] = {}
    for group, regions in cohorts.items():
        for region, res in fmri_resemblance(store, regions).items():
            results[(region, group)] = res
            summary.update({metrics.fmri_resemblance(region, group): res.resemblance,
                            metrics.fmri_ceiling(region, group): res.ceiling,
                            metrics.fmri_best_layer(region, group): res.best_layer,
                            metrics.fmri_n_subjects(region, group): len(res.subjects),
                            metrics.fmri_n_sentences(region, group): regions[region].n_sentences})
            if score == "legacy_pearson":
                summary[metrics.fmri_legacy_pearson(region, group)] = float(legacy_pearson(regions[region], corpus).mean())
    return results, summary
