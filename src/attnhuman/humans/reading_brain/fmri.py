"""fMRI cohorts of the Reading Brain release: one cohort per left-hemisphere region (docs/method.md, "fMRI").

Each region's targets are the subjects' ROI matrix values (signed fMRI signal placed at the subject's
word-to-word transitions, not binarized) on the lower-triangle cells of the kept sentences; the ceiling's
predictor is the mean of the usable subjects' ROI matrices of that region.

Handling of defective data, per group and region (every case lands in the ExclusionReport, level
``fmri_subject``, ``fmri_sentence`` or ``fmri_region``; item ``"<subject or sentence> <region>"``):

- subject excluded by configuration (``data.exclude_subjects``): skipped;
- subject with an empty list (no data in this region) or a layout that does not fit the corpus: skipped;
- sentence: excluded when a subject's square matrix for it has a size other than the text's word count
  (the check of the saccade cohorts), or when no subject has a square numeric matrix for it;
- subject with a non-square / ragged matrix in a kept sentence, or NaN in a kept (lower-triangle) cell:
  skipped for the region as a whole. Per subject, not per sentence, because all subjects share one cell
  index (one design per layer), and because on the release the defects are whole-subject: L1_S32
  anterior and L2_S42 middle hold nested lists of volume indices in all 148 sentences; there is no NaN
  at all in the release. NaN above the diagonal is never read (those cells are not analysed);
- subject whose kept cells are all equal: R2 undefined, skipped.

On the release this keeps, with L1_S01 excluded: L1 148 sentences and 45 (angular, anterior: 44) subjects;
L2 147 sentences (#20 is 12x12 in the ROI files) and 54 subjects. The saccade means' 10x10 matrix of
sentence #77 is not involved: its ROI matrices are 13x13, as the text.
"""
from __future__ import annotations

import numpy as np

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, ExclusionReport, subject_id
from attnhuman.humans.reading_brain import layout
from attnhuman.humans.reading_brain.layout import REGIONS
from attnhuman.humans.reading_brain.release import Release, load_pickle


def load_fmri_cohort(release: Release, corpus: Corpus, group: str, region: str, *, exclude=(),
                     report: ExclusionReport) -> Cohort | None:
    """One region's cohort: ``targets`` ``(n_kept_cells, n_subjects)`` ROI values, ``mean``
    ``(n_kept_cells,)`` their mean over the usable subjects. None (reported) when no subject is usable."""
    if group not in layout.GROUP_FILE_SUFFIX:
        raise DataError(f"unknown group {group!r}: choose from {sorted(layout.GROUP_FILE_SUFFIX)}")
    if region not in REGIONS:
        raise DataError(f"unknown fMRI region {region!r}: choose from {list(REGIONS)}")
    path = release.path(layout.roi_file(group, region))
    raw = load_pickle(path)
    if not isinstance(raw, (list, tuple)) or not raw:
        raise DataError(f"{path}: expected a non-empty list of subjects, found {type(raw).__name__}.")
    ids = [subject_id(group, s) for s in range(len(raw))]
    layout.check_exclusions(group, ids, exclude)
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
                layout.check_layout(data, corpus, f"{sid} {region}")
            except DataError as e:
                skip(sid, str(e))
                continue
            arrays[s] = [layout.square_matrix(m, nan=None) for m in layout.sentence_matrices(data)]

    # sentence k: every square matrix must have the text's size (the saccade cohorts' check and wording)
    keep = np.ones(n_sent, dtype=bool)
    for k in range(n_sent):
        square = [s for s in arrays if arrays[s][k] is not None]
        reason = (layout.subject_mismatch({s: {k: [arrays[s][k]]} for s in square}, square, ids, k, int(corpus.n_words[k]))
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
