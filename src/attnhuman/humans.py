"""Human reading data as cohorts on the shared cell index (METHOD.md section 3).

Per-subject saccade counts are not in the public release. The proxy cohort recovers each
subject's saccade transitions from the per-subject fMRI ROI files: a cell is 1 where any
usable region is non-zero. True per-subject count files (``saccade_num_p1.pkl`` ...) replace
the proxy when present. Every subject, sentence or region left out lands in the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.release import Release, load_pickle

GROUP_FILE_SUFFIX = {"L1": "p1", "L2": "p2"}
REGIONS = ("angular", "anterior", "inferior", "middle", "superior")


def subject_id(group: str, index: int) -> str:
    """``L1_S01`` for subject index 0 of group L1."""
    return f"{group}_S{index + 1:02d}"


@dataclass(frozen=True)
class Exclusion:
    group: str
    level: str    # subject | sentence | region
    item: str
    action: str   # excluded (left out of the analysis) | ignored (other data of the subject used)
    reason: str


@dataclass
class ExclusionReport:
    """Everything the data layer left out, with the reason."""

    entries: list[Exclusion] = field(default_factory=list)

    def add(self, group: str, level: str, item: str, reason: str, action: str = "excluded") -> None:
        self.entries.append(Exclusion(group, level, item, action, reason))

    def select(self, group: str | None = None, level: str | None = None) -> list[Exclusion]:
        return [e for e in self.entries
                if (group is None or e.group == group) and (level is None or e.level == level)]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.entries],
                            columns=["group", "level", "item", "action", "reason"])

    def format(self) -> str:
        if not self.entries:
            return "Exclusion report: nothing excluded."
        lines = ["Exclusion report:"]
        lines += [f"  [{e.group}] {e.level} {e.item}: {e.action}: {e.reason}" for e in self.entries]
        return "\n".join(lines)


@dataclass
class Cohort:
    """One group's subjects on the kept cells.

    ``targets``: ``(n_kept_cells, n_subjects)`` per-subject saccade values;
    ``mean``: ``(n_kept_cells,)`` the released group mean (the ceiling's predictor).
    """

    group: str
    subjects: list[str]
    keep: np.ndarray        # (n_sentences,) bool
    cell_mask: np.ndarray   # (n_cells,) bool
    targets: np.ndarray
    mean: np.ndarray
    subject_data: str       # proxy | counts

    @property
    def n_sentences(self) -> int:
        return int(self.keep.sum())


def _square(matrix, nan: float | None = 0.0) -> np.ndarray | None:
    """The matrix as a square float array (NaN set to ``nan`` unless None), or None when it is not one."""
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        return None
    return array if nan is None else np.nan_to_num(array, nan=nan)


def _check_layout(data, corpus: Corpus, what: str) -> None:
    """``data`` must be ``list[articles] of list[sentences]`` with the corpus' sentence counts."""
    counts = [len(a) for a in data] if isinstance(data, (list, tuple)) else None
    if counts != corpus.sentences_per_article.tolist():
        raise DataError(f"{what}: expected {len(corpus.sentences_per_article)} articles with "
                        f"{corpus.sentences_per_article.tolist()} sentences, found "
                        f"{counts if counts is not None else type(data).__name__}. The file does not "
                        "match the corpus text; check data.root.")


def _per_sentence(data) -> list:
    return [s for article in data for s in article]


def roi_file(group: str, region: str) -> str:
    """Release-relative path of a group's per-subject ROI file, e.g. ``roi_activations/L1/activations_angular_p1.pkl``."""
    return f"roi_activations/{group}/activations_{region}_{GROUP_FILE_SUFFIX[group]}.pkl"


def check_exclusions(group: str, ids: list[str], exclude) -> None:
    """Raise DataError when ``exclude`` names subjects that are not among ``ids``."""
    unknown = sorted(set(exclude) - set(ids))
    if unknown:
        raise DataError(f"data.exclude_subjects.{group} names {unknown}, which do not exist; "
                        f"{group} subjects are {ids[0]}..{ids[-1]}.")


def _subject_sources(release: Release, group: str, mode: str) -> tuple[str, dict[str, list]]:
    """Per-subject data files: ``("counts", {"counts": data})`` or ``("proxy", {region: data})``."""
    counts_file = f"saccade_num_{GROUP_FILE_SUFFIX[group]}.pkl"
    if mode not in ("auto", "counts", "proxy"):
        raise DataError(f"data.subjects={mode!r}: choose auto, counts or proxy")
    if mode == "counts" or (mode == "auto" and release.has(counts_file)):
        return "counts", {"counts": load_pickle(release.path(counts_file))}
    return "proxy", {r: load_pickle(release.path(roi_file(group, r))) for r in REGIONS}


def load_cohort(release: Release, corpus: Corpus, group: str, *, subjects: str = "auto",
                exclude: list[str] = (), report: ExclusionReport | None = None) -> Cohort:
    """Build group ``group`` (L1 or L2) as METHOD.md section 3 defines it."""
    if group not in GROUP_FILE_SUFFIX:
        raise DataError(f"unknown group {group!r}: choose from {sorted(GROUP_FILE_SUFFIX)}")
    report = report if report is not None else ExclusionReport()
    n_sent = len(corpus)
    mean_name = f"mean_saccade_num_{GROUP_FILE_SUFFIX[group]}.pkl"
    mean_path = release.path(mean_name)
    mean_raw = load_pickle(mean_path)
    _check_layout(mean_raw, corpus, str(mean_path))
    means = [_square(m, nan=None) for m in _per_sentence(mean_raw)]

    kind, sources = _subject_sources(release, group, subjects)
    n_subjects = {len(d) for d in sources.values()}
    if len(n_subjects) != 1:
        raise DataError(f"[{group}] the per-subject files disagree on the number of subjects "
                        f"({ {k: len(v) for k, v in sources.items()} }); they must list the same subjects.")
    n_subj = n_subjects.pop()
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
                _check_layout(subject_data, corpus, f"{sid} {source}")
            except DataError as e:
                report.add(group, "region", f"{sid} {source}", str(e), action="ignored")
                continue
            bad = []
            for k, m in enumerate(_per_sentence(subject_data)):
                array = _square(m)
                if array is None:
                    bad.append(k)
                else:
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
            reason = _subject_mismatch(usable, included, ids, k, n)
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
    return Cohort(group, subjects, keep, mask, targets[:, ~constant], mean, kind)


def _subject_mismatch(usable, included, ids, k: int, n: int) -> str | None:
    """Why sentence k cannot be used for the included subjects, or None."""
    missing = [ids[s] for s in included if not usable[s][k]]
    if missing:
        return (f"{missing[0]}{f' and {len(missing) - 1} more subjects' if len(missing) > 1 else ''} "
                "have no usable matrix for it")
    wrong = [(ids[s], m.shape[0]) for s in included for m in usable[s][k] if m.shape[0] != n]
    if wrong:
        subjects = sorted({sid for sid, _ in wrong})
        sizes = sorted({size for _, size in wrong})
        return (f"the text has {n} words, {len(subjects)} subjects (first {subjects[0]}) have "
                f"{' / '.join(f'{x}x{x}' for x in sizes)} matrices")
    return None


def load_cohorts(release: Release, corpus: Corpus, groups=("L1", "L2"), *, subjects: str = "auto",
                 exclude: dict | None = None) -> tuple[dict[str, Cohort], ExclusionReport]:
    """All groups' cohorts and one report."""
    report = ExclusionReport()
    exclude = exclude or {}
    cohorts = {g: load_cohort(release, corpus, g, subjects=subjects, exclude=list(exclude.get(g, [])),
                              report=report) for g in groups}
    return cohorts, report


def load_corpus(release: Release) -> Corpus:
    return Corpus.from_text(Path(release.path("sentences_p1.txt")))
