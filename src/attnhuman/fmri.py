"""fMRI resemblance (METHOD.md section 9, paper appendix D).

Each of the five left-hemisphere regions (``REGIONS``) is a cohort of its own: the targets are the
subjects' ROI matrix values (signed fMRI signal placed at the subject's word-to-word transitions, not
binarized) on the lower-triangle cells of the kept sentences; the ceiling's predictor is the mean of the
usable subjects' ROI matrices of that region. The score is the regression of section 4 unchanged
(:mod:`attnhuman.resemblance`): each layer's heads predict each subject, in-sample R2, mean over subjects,
resemblance = 100 * max layer R2 / ceiling.

Handling of defective data, per group and region (every case lands in the ExclusionReport, level
``fmri_subject``, ``fmri_sentence`` or ``fmri_region``; item ``"<subject or sentence> <region>"``):

- subject excluded by configuration (``data.exclude_subjects``): skipped;
- subject with an empty list (no data in this region) or a layout that does not fit the corpus: skipped;
- sentence: excluded when a subject's square matrix for it has a size other than the text's word count
  (the check of humans.py step 4), or when no subject has a square numeric matrix for it;
- subject with a non-square / ragged matrix in a kept sentence, or NaN in a kept (lower-triangle) cell:
  skipped for the region as a whole. Per subject, not per sentence, because all subjects share one cell
  index (one design per layer), and because on the release the defects are whole-subject: L1_S32
  anterior and L2_S42 middle hold nested lists of volume indices in all 148 sentences; there is no NaN
  at all in the release. NaN above the diagonal is never read (those cells are not analysed);
- subject whose kept cells are all equal: R2 undefined, skipped.

On the release this keeps, with L1_S01 excluded: L1 148 sentences and 45 (angular, anterior: 44) subjects;
L2 147 sentences (#20 is 12x12 in the ROI files) and 54 subjects. The saccade means' 10x10 matrix of
sentence #77 is not involved: its ROI matrices are 13x13, as the text.

Legacy option ``legacy_pearson`` (not the default, not comparable to section 4): the released code's
inter-subject score, the Pearson r between a subject and the region mean within each sentence,
averaged over sentences, then over subjects.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman.attention import AttentionStore
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans import (GROUP_FILE_SUFFIX, REGIONS, Cohort, ExclusionReport, _check_layout, _per_sentence,
                              _square, _subject_mismatch, check_exclusions, roi_file, subject_id)
from attnhuman.release import Release, load_pickle
from attnhuman.resemblance import GroupResemblance, ceiling_r2, layer_r2

log = logging.getLogger(__name__)

SCORES = ("r2", "legacy_pearson")


def fmri_option(value) -> str | None:
    """``analysis.fmri`` as a score: false -> None (off), true -> ``"r2"``, ``"legacy_pearson"`` -> R2 plus the
    legacy score."""
    if value is None or value is False or str(value).lower() == "false":
        return None
    if value is True or str(value).lower() in ("true", "r2"):
        return "r2"
    if str(value) == "legacy_pearson":
        return "legacy_pearson"
    from attnhuman.registry import ConfigError
    raise ConfigError(f"analysis.fmri={value!r}: choose true (R2, METHOD.md section 9), false or legacy_pearson")


def load_fmri_cohort(release: Release, corpus: Corpus, group: str, region: str, *, exclude=(),
                     report: ExclusionReport) -> Cohort | None:
    """One region's cohort: ``targets`` ``(n_kept_cells, n_subjects)`` ROI values, ``mean``
    ``(n_kept_cells,)`` their mean over the usable subjects. None (reported) when no subject is usable."""
    if group not in GROUP_FILE_SUFFIX:
        raise DataError(f"unknown group {group!r}: choose from {sorted(GROUP_FILE_SUFFIX)}")
    if region not in REGIONS:
        raise DataError(f"unknown fMRI region {region!r}: choose from {list(REGIONS)}")
    path = release.path(roi_file(group, region))
    raw = load_pickle(path)
    if not isinstance(raw, (list, tuple)) or not raw:
        raise DataError(f"{path}: expected a non-empty list of subjects, found {type(raw).__name__}.")
    ids = [subject_id(group, s) for s in range(len(raw))]
    check_exclusions(group, ids, exclude)
    n_sent = len(corpus)

    def skip(sid: str, reason: str) -> None:
        report.add(group, "fmri_subject", f"{sid} {region}", reason)

    # arrays[s]: (n_sent,) square float matrices (NaN kept) or None, for the subjects still in
    arrays: dict[int, list[np.ndarray | None]] = {}
    for s, sid in enumerate(ids):
        data = raw[s]
        if sid in exclude:
            skip(sid, "excluded by configuration (data.exclude_subjects)")
        elif isinstance(data, (list, tuple)) and len(data) == 0:
            skip(sid, "no data in this region (empty list)")
        else:
            try:
                _check_layout(data, corpus, f"{sid} {region}")
            except DataError as e:
                skip(sid, str(e))
                continue
            arrays[s] = [_square(m, nan=None) for m in _per_sentence(data)]

    # sentence k: every square matrix must have the text's size (humans.py step 4, same check and wording)
    keep = np.ones(n_sent, dtype=bool)
    for k in range(n_sent):
        square = [s for s in arrays if arrays[s][k] is not None]
        reason = (_subject_mismatch({s: {k: [arrays[s][k]]} for s in square}, square, ids, k, int(corpus.n_words[k]))
                  if square else "no subject has a square numeric matrix for it")
        if reason:
            keep[k] = False
            report.add(group, "fmri_sentence", f"{corpus.label(k)} {region}", reason)
    kept = np.flatnonzero(keep)
    tril = [np.tril_indices(int(corpus.n_words[k])) for k in kept]

    columns, subjects = [], []
    for s, sentences in arrays.items():
        bad = [k for k in kept if sentences[k] is None]
        if bad:
            skip(ids[s], f"{len(bad)} of {len(kept)} kept sentence matrices are not square numeric arrays "
                         f"(first: {corpus.label(bad[0])}, e.g. ragged nested lists)")
            continue
        cells = np.concatenate([sentences[k][rows, cols] for k, (rows, cols) in zip(kept, tril)]) \
            if len(kept) else np.zeros(0)
        nan = np.isnan(cells)
        if nan.any():
            where = np.repeat(kept, [len(r) for r, _ in tril])[nan]
            skip(ids[s], f"NaN in {int(nan.sum())} kept cells of {len(np.unique(where))} sentences "
                         f"(first: {corpus.label(int(where[0]))})")
            continue
        if cells.size == 0 or np.ptp(cells) == 0:
            skip(ids[s], "the same value in every kept cell: R2 is undefined")
            continue
        columns.append(cells)
        subjects.append(ids[s])

    if not subjects:
        report.add(group, "fmri_region", region, "no usable subject: the region is not scored")
        return None
    targets = np.column_stack(columns)
    return Cohort(group, subjects, keep, corpus.cell_mask(keep), targets, targets.mean(axis=1), f"fmri_{region}")


def load_fmri_cohorts(release: Release, corpus: Corpus, group: str, *, exclude=(),
                      report: ExclusionReport, regions=REGIONS) -> dict[str, Cohort]:
    """``{region: Cohort}`` for ``group`` (L1 or L2); regions without a usable subject are left out (reported)."""
    cohorts = {r: load_fmri_cohort(release, corpus, group, r, exclude=list(exclude), report=report)
               for r in regions}
    return {r: c for r, c in cohorts.items() if c is not None}


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


def log_fmri(client, run_id: str, out: Path, store: AttentionStore, cohorts: dict[str, dict[str, Cohort]],
             score: str = "r2", corpus: Corpus | None = None) -> dict[str, float]:
    """Score ``cohorts`` ``{group: {region: Cohort}}``, log the curves ``fmri_r2_<region>_<group>`` (step =
    layer) and the table ``tables/fmri_resemblance.csv``; return the summary metrics to log.
    ``score="legacy_pearson"`` adds ``fmri_legacy_pearson_<region>_<group>`` (needs ``corpus``)."""
    from attnhuman.tracking import log_curve
    if score not in SCORES:
        raise ValueError(f"score={score!r}: choose one of {list(SCORES)}")
    results: dict[tuple[str, str], GroupResemblance] = {}
    summary: dict[str, float] = {}
    for group, regions in cohorts.items():
        for region, res in fmri_resemblance(store, regions).items():
            results[(region, group)] = res
            key = f"{region}_{group}"
            log_curve(client, run_id, f"fmri_r2_{key}", res.layer_r2)
            summary.update({f"fmri_resemblance_{key}": res.resemblance, f"fmri_ceiling_{key}": res.ceiling,
                            f"fmri_best_layer_{key}": res.best_layer, f"fmri_n_subjects_{key}": len(res.subjects),
                            f"fmri_n_sentences_{key}": regions[region].n_sentences})
            if score == "legacy_pearson":
                summary[f"fmri_legacy_pearson_{key}"] = float(legacy_pearson(regions[region], corpus).mean())
            log.info("[%s] fMRI %s: resemblance %.2f%% (best layer %d, R2 %.5f, ceiling %.5f, %d subjects)",
                     group, region, res.resemblance, res.best_layer, res.r2_model, res.ceiling, len(res.subjects))
    path = out / "tables" / "fmri_resemblance.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    fmri_table(results).to_csv(path, index=False)
    client.log_artifact(run_id, str(path), "tables")
    return summary
