"""The Reading Brain release layout: file names, per-sentence matrices, and the checks shared by its loaders."""
from __future__ import annotations

import numpy as np

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError

GROUP_FILE_SUFFIX = {"L1": "p1", "L2": "p2"}
REGIONS = ("angular", "anterior", "inferior", "middle", "superior")
MAX_COUNT = 100.0    # saccades between two words of one sentence, per reader: more is a damaged file


def square_matrix(matrix, nan: float | None = 0.0) -> np.ndarray | None:
    """The matrix as a square float array (NaN set to ``nan`` unless None), or None when it is not one."""
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        return None
    return array if nan is None else np.where(np.isnan(array), nan, array)   # inf stays inf: check_counts names it


def check_layout(data, corpus: Corpus, what: str) -> None:
    """``data`` must be ``list[articles] of list[sentences]`` with the corpus' sentence counts."""
    counts = [len(a) for a in data] if isinstance(data, (list, tuple)) else None
    if counts != corpus.sentences_per_article.tolist():
        raise DataError(f"{what}: expected {len(corpus.sentences_per_article)} articles with "
                        f"{corpus.sentences_per_article.tolist()} sentences, found "
                        f"{counts if counts is not None else type(data).__name__}. This file and the corpus text "
                        "(sentences_p1.txt: one sentence per line, one blank line between articles) disagree: "
                        "restore whichever was edited or truncated (data.verify names the files that differ "
                        "from the release).")


def sentence_matrices(data) -> list:
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



def subject_mismatch(usable, included, ids, k: int, n: int) -> str | None:
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


def check_counts(matrix: np.ndarray, what: str) -> None:
    """Raise DataError when the lower triangle of a saccade-count matrix holds a value that no count can be:
    infinite, negative, or above MAX_COUNT (NaN is left to the caller: it excludes the sentence)."""
    cells = matrix[np.tril_indices(len(matrix))]
    bad = ~np.isnan(cells) & ~((cells >= 0) & (cells <= MAX_COUNT))
    if bad.any():
        i, j = (int(x[np.argmax(bad)]) for x in np.tril_indices(len(matrix)))
        value = float(cells[np.argmax(bad)])
        raise DataError(f"{what}: cell (row {i}, column {j}) is {value!r}; saccade counts are finite, "
                        f">= 0 and at most {MAX_COUNT:g}. The file is damaged or not a count file: restore it "
                        "from the release (data.verify lists the files that differ from it).")


def check_distinct(targets: np.ndarray, subjects: list[str], what: str) -> None:
    """Raise DataError when two subjects have identical data in every kept cell (a subject copied twice)."""
    _, first, inverse = np.unique(targets.T, axis=0, return_index=True, return_inverse=True)
    copies = np.flatnonzero(first[inverse.ravel()] != np.arange(targets.shape[1]))
    if copies.size:
        a, b = subjects[int(first[inverse.ravel()[copies[0]]])], subjects[int(copies[0])]
        raise DataError(f"{what}: {a} and {b} have identical data in every kept cell ({copies.size} such "
                        f"duplicate subject(s)): one subject stored twice? Restore the file, or leave one out "
                        f"with data.exclude_subjects.")
