"""The Reading Brain release as cohorts on the corpus' cell index (docs/method.md, "Human data and the proxy cohort").

Per-subject saccade counts are not in the public release. The proxy cohort recovers each
subject's saccade transitions from the per-subject fMRI ROI files: a cell is 1 where any
usable region is non-zero. True per-subject count files (``saccade_num_p1.pkl`` ...) replace
the proxy when present. Every subject, sentence or region left out lands in the report.
"""
from __future__ import annotations

import numpy as np

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, ExclusionReport, subject_id
from attnhuman.humans.reading_brain.layout import (
    GROUP_FILE_SUFFIX,
    REGIONS,
    check_counts,
    check_distinct,
    check_exclusions,
    check_layout,
    roi_file,
    sentence_matrices,
    square_matrix,
    subject_mismatch,
)
from attnhuman.humans.reading_brain.release import Release, load_pickle


def subject_files(release: Release, group: str, mode: str) -> tuple[str, dict[str, str]]:
    """The names of the per-subject data files: ``("counts", {"counts": name})`` or ``("proxy", {region: name})``."""
    counts_file = f"saccade_num_{GROUP_FILE_SUFFIX[group]}.pkl"
    if mode not in ("auto", "counts", "proxy"):
        raise DataError(f"data.subjects={mode!r}: choose auto, counts or proxy")
    if mode == "counts" or (mode == "auto" and release.has(counts_file)):
        return "counts", {"counts": counts_file}
    return "proxy", {r: roi_file(group, r) for r in REGIONS}


def subject_sources(release: Release, group: str, mode: str) -> tuple[str, dict[str, list]]:
    """Per-subject data: ``("counts", {"counts": data})`` or ``("proxy", {region: data})``."""
    kind, names = subject_files(release, group, mode)
    return kind, {k: load_pickle(release.path(name)) for k, name in names.items()}


def subject_count(release: Release, group: str, mode: str) -> int | None:
    """How many subjects the group's per-subject files list (one file read), or None when it is not here yet."""
    name = next(iter(subject_files(release, group, mode)[1].values()))
    return len(load_pickle(release.path(name))) if release.has(name) else None


def check_enough(group: str, usable: list[str], n_subjects: int) -> None:
    """Refuse a group with fewer than 2 usable subjects: its ceiling would compare a reader with itself."""
    if len(usable) < 2:
        raise DataError(f"[{group}] {len(usable)} of its {n_subjects} subjects usable ({', '.join(usable) or 'none'}): "
                        "the others are excluded (data.exclude_subjects) or have no usable data (see the report); a "
                        f"group needs 2 or more readers to have a ceiling: exclude fewer subjects, or leave {group} out "
                        "of analysis.groups.")


def load_cohort(release: Release, corpus: Corpus, group: str, *, subjects: str = "auto",
                exclude: list[str] = (), report: ExclusionReport | None = None) -> Cohort:
    """Build group ``group`` (L1 or L2) as docs/method.md, "Human data and the proxy cohort" defines it."""
    if group not in GROUP_FILE_SUFFIX:
        raise DataError(f"unknown group {group!r}: choose from {sorted(GROUP_FILE_SUFFIX)}")
    report = report if report is not None else ExclusionReport()
    n_sent = len(corpus)
    mean_name = f"mean_saccade_num_{GROUP_FILE_SUFFIX[group]}.pkl"
    mean_path = release.path(mean_name)
    mean_raw = load_pickle(mean_path)
    check_layout(mean_raw, corpus, str(mean_path))
    means = [square_matrix(m, nan=None) for m in sentence_matrices(mean_raw)]
    for k, m in enumerate(means):
        if m is not None:
            check_counts(m, f"{mean_path}, sentence {corpus.label(k)}")

    kind, sources = subject_sources(release, group, subjects)
    n_subjects = {len(d) for d in sources.values()}
    if len(n_subjects) != 1:
        raise DataError(f"[{group}] the per-subject files disagree on the number of subjects "
                        f"({ {k: len(v) for k, v in sources.items()} }); they must list the same subjects.")
    n_subj = n_subjects.pop()
    if n_subj == 0:
        raise DataError(f"[{group}] the per-subject {kind} file(s) ({', '.join(sources)}) hold no subjects: restore "
                        "them from the release (data.verify lists the files that differ from it).")
    ids = [subject_id(group, s) for s in range(n_subj)]
    check_exclusions(group, ids, exclude)

    # usable[s][k]: the subject's usable matrices for sentence k (one per region or the count matrix)
    usable: list[list[list[np.ndarray]]] = []
    for s, sid in enumerate(ids):
        per_sentence: list[list[np.ndarray]] = [[] for _ in range(n_sent)]
        for source, data in sources.items():
            subject_data = data[s]
            if isinstance(subject_data, (list, tuple)) and len(subject_data) == 0:
                if kind == "proxy" and any(len(d[s]) for d in sources.values()):
                    report.add(group, "region", f"{sid} {source}", "no data in this region",
                               action="ignored")
                continue
            try:
                check_layout(subject_data, corpus, f"{sid} {source}")
            except DataError as e:
                report.add(group, "region", f"{sid} {source}", str(e), action="ignored")
                continue
            bad = []
            for k, m in enumerate(sentence_matrices(subject_data)):
                array = square_matrix(m)
                if array is None:
                    bad.append(k)
                else:
                    if kind == "counts":
                        check_counts(array, f"{release.root / f'saccade_num_{GROUP_FILE_SUFFIX[group]}.pkl'}, "
                                            f"subject {sid}, sentence {corpus.label(k)}")
                    per_sentence[k].append(array)
            if bad:
                report.add(group, "region", f"{sid} {source}",
                           f"{len(bad)} of {n_sent} sentence matrices are not square numeric arrays "
                           f"(first: {corpus.label(bad[0])}); those matrices are ignored", action="ignored")
        usable.append(per_sentence)

    included = []
    for s, sid in enumerate(ids):
        if sid in exclude:
            report.add(group, "subject", sid, "excluded by configuration (data.exclude_subjects)")
        elif not any(usable[s]):
            report.add(group, "subject", sid, "no usable matrix in any file (empty subject)")
        else:
            included.append(s)
    check_enough(group, [ids[s] for s in included], n_subj)

    keep = np.ones(n_sent, dtype=bool)
    for k in range(n_sent):
        n = int(corpus.n_words[k])
        if means[k] is None:
            reason = f"the group mean ({mean_name}) is not a square numeric matrix"
        elif means[k].shape[0] != n:
            reason = f"the text has {n} words, the group mean is {means[k].shape[0]}x{means[k].shape[0]}"
        elif np.isnan(means[k]).any():
            reason = f"the group mean ({mean_name}) has NaN values"
        else:
            reason = subject_mismatch(usable, included, ids, k, n)
        if reason:
            keep[k] = False
            report.add(group, "sentence", corpus.label(k), reason)

    mask = corpus.cell_mask(keep)
    targets = np.zeros((corpus.n_cells, len(included)))
    mean = np.zeros(corpus.n_cells)
    for k in np.flatnonzero(keep):
        rows, cols = np.tril_indices(int(corpus.n_words[k]))
        cells = slice(corpus.offsets[k], corpus.offsets[k + 1])
        mean[cells] = means[k][rows, cols]
        for column, s in enumerate(included):
            stack = np.stack(usable[s][k])[:, rows, cols]
            targets[cells, column] = (stack != 0).any(axis=0) if kind == "proxy" else stack[0]
    targets, mean = targets[mask], mean[mask]

    constant = np.ptp(targets, axis=0) == 0 if targets.size else np.ones(len(included), dtype=bool)
    for column in np.flatnonzero(constant):
        report.add(group, "subject", ids[included[column]],
                   "the same value in every kept cell (no saccade transitions): R2 is undefined")
    subjects = [ids[s] for c, s in enumerate(included) if not constant[c]]
    check_enough(group, subjects, n_subj)
    check_distinct(targets[:, ~constant], subjects, f"[{group}] {', '.join(sources)} data")
    return Cohort(group, subjects, keep, mask, targets[:, ~constant], mean, kind)


def load_cohorts(release: Release, corpus: Corpus, groups=("L1", "L2"), *, subjects: str = "auto",
                 exclude: dict | None = None) -> tuple[dict[str, Cohort], ExclusionReport]:
    """All groups' cohorts and one report."""
    report = ExclusionReport()
    exclude = exclude or {}
    cohorts = {g: load_cohort(release, corpus, g, subjects=subjects, exclude=list(exclude.get(g, [])),
                              report=report) for g in groups}
    return cohorts, report
