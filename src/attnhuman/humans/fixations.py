"""Fixation sequences to saccade matrices (docs/method.md, "Fixation reports to saccade matrices"): per subject and unit, each pair of
consecutive fixations that both lie on words is a saccade from word ``i`` to word ``j``; a fixation outside every
word breaks the chain. The group mean of the subjects' counts replaces the released mean matrices.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, ExclusionReport
from attnhuman.humans.word_table import WordReading, check_distinct

OFF_WORDS = {".", ""}          # Data Viewer writes "." for a fixation outside every interest area


def _word_numbers(frame: pd.DataFrame) -> np.ndarray:
    """The fixated word's 1-based index, NaN outside every word; anything else stops naming the line."""
    raw = frame.word.astype(str).str.strip()
    numbers = pd.to_numeric(raw.where(~raw.isin(OFF_WORDS)), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(numbers) & ~raw.isin(OFF_WORDS).to_numpy()
    if bad.any():
        row = frame.iloc[int(np.argmax(bad))]
        raise DataError(f"{row.file}, line {row.row}: subject {row.subject}, unit {row.unit}: interest area "
                        f"{row.word!r} is neither a word number nor '.' (outside every word).")
    return numbers


def saccade_counts(fixations: pd.DataFrame, reading: WordReading, report: ExclusionReport,
                   group_of: dict[str, str]) -> dict[tuple[str, int], np.ndarray]:
    """``{(subject, corpus unit k): (n, n) counts}`` from the columns ``subject, unit, order, word, file, row``."""
    corpus, position = reading.corpus, {str(u): k for k, u in enumerate(reading.unit_ids)}
    words = _word_numbers(fixations)
    order = pd.to_numeric(fixations.order, errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(order).any():
        row = fixations.iloc[int(np.argmax(np.isnan(order)))]
        raise DataError(f"{row.file}, line {row.row}: fixation order {row.order!r} is not a number.")
    frame = fixations.assign(word=words, order=order).sort_values(["subject", "unit", "order"], kind="stable")
    check_distinct(frame, ["unit", "order", "word"], "fixations (unit, order, interest area)", "the fixation report")
    counts, off = {}, {}
    for (subject, unit), rows in frame.groupby(["subject", "unit"], sort=False):
        if (subject, unit) not in reading.subject_units:
            raise DataError(f"{rows.file.iloc[0]}: subject {subject} has fixations in unit {unit}, but the "
                            "interest-area report has no words of this subject in this unit.")
        if str(unit) not in position:
            continue                                     # a unit left out (reported with its reason)
        k = position[str(unit)]
        n = int(corpus.n_words[k])
        ids = rows.word.to_numpy()
        beyond = ~np.isnan(ids) & ((ids < 1) | (ids > n))
        if beyond.any():
            row = rows.iloc[int(np.argmax(beyond))]
            raise DataError(f"{row.file}, line {row.row}: subject {subject}, unit {unit}: interest area "
                            f"{int(row.word)} is beyond the unit's {n} words (1..{n}).")
        step = ~np.isnan(ids[:-1]) & ~np.isnan(ids[1:])
        matrix = np.zeros((n, n))
        np.add.at(matrix, (ids[:-1][step].astype(int) - 1, ids[1:][step].astype(int) - 1), 1)
        counts[(subject, k)] = matrix
        off[subject] = off.get(subject, [0, 0])
        off[subject][0] += int(np.isnan(ids).sum())
        off[subject][1] += len(ids)
    for subject, (outside, total) in off.items():
        if outside:
            report.add(group_of[subject], "fixations", subject, f"{outside} of {total} fixations outside every word: "
                       "each breaks the saccade chain (no saccade to or from it)", action="ignored")
    return counts


def saccade_cohort(group: str, subjects: list[str], counts: dict, corpus: Corpus, report: ExclusionReport) -> Cohort:
    """One group's Cohort on the lower-triangle cells: units that every subject of the group read are kept, the
    group mean of the counts is the ceiling's predictor; a subject without saccades in the kept cells is left out, and
    fewer than 2 readers left are refused."""
    keep = np.array([all((s, k) in counts for s in subjects) for k in range(len(corpus))])
    for k in np.flatnonzero(~keep):
        missing = [s for s in subjects if (s, k) not in counts]
        report.add(group, "sentence", corpus.label(int(k)), f"no fixations of {', '.join(missing)}")
    if not keep.any():
        raise DataError(f"group {group}: no unit has fixations of every subject ({', '.join(subjects)}); check the "
                        "fixation report's subject and unit columns.")
    kept = [k for k in range(len(corpus)) if keep[k]]
    columns = []
    for s in subjects:
        cells = [counts[(s, k)][np.tril_indices(int(corpus.n_words[k]))] for k in kept]
        columns.append(np.concatenate(cells))
    targets = np.column_stack(columns)
    alive = targets.std(axis=0) > 0
    for s in np.flatnonzero(~alive):
        report.add(group, "subject", subjects[s], "no saccade between words in the kept units")
    if alive.sum() < 2:
        raise DataError(f"group {group}: {int(alive.sum())} of its {len(subjects)} readers have a saccade between words "
                        "in the kept units; a group needs 2 or more readers to have a ceiling: check the fixation report, "
                        "or leave the group out of analysis.groups.")
    return Cohort(group, [s for s, a in zip(subjects, alive) if a], keep, corpus.cell_mask(keep), targets[:, alive],
                  targets[:, alive].mean(axis=1), "fixations")
