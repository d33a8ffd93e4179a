"""The Reading Brain release layout: file names, per-sentence matrices, and the checks shared by its loaders."""
from __future__ import annotations

import numpy as np

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError

GROUP_FILE_SUFFIX = {"L1": "p1", "L2": "p2"}
REGIONS = ("angular", "anterior", "inferior", "middle", "superior")


def square_matrix(matrix, nan: float | None = 0.0) -> np.ndarray | None:
    """The matrix as a square float array (NaN set to ``nan`` unless None), or None when it is not one."""
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        return None
    return array if nan is None else np.nan_to_num(array, nan=nan)


def check_layout(data, corpus: Corpus, what: str) -> None:
    """``data`` must be ``list[articles] of list[sentences]`` with the corpus' sentence counts."""
    counts = [len(a) for a in data] if isinstance(data, (list, tuple)) else None
    if counts != corpus.sentences_per_article.tolist():
        raise DataError(f"{what}: expected {len(corpus.sentences_per_article)} articles with "
                        f"{corpus.sentences_per_article.tolist()} sentences, found "
                        f"{counts if counts is not None else type(data).__name__}. The file does not "
                        "match the corpus text; check data.root.")


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
