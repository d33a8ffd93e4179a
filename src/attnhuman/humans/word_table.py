"""Word-level reading measures of any corpus, from tables: one long table or one table per subject (CSV, CSV.gz or
Parquet), with the columns of subject, unit, word index, word and measure named by the caller (docs/method.md, "Word importance from reading times"). Every problem names the file, the subject and the unit; what is left out goes into the report.

The words of a unit are its rows in word-index order; every subject who read the unit must have the same words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.cohort import ExclusionReport

FIELDS = ("subject", "unit", "word_index", "word", "measure")      # what every table must give
FROM_FILENAME = "from_filename"                                     # columns.subject: the file's name gives it
PATTERN_EXAMPLE = "'^([^-_.]+)' (pp21-relfix-feats.csv.gz -> pp21)"


@dataclass(frozen=True)
class WordMeasures:
    """One group's reading measure per word: ``values[k]`` is ``(n_subjects, n_words_k)`` for corpus unit ``k``,
    a row of NaN where the subject did not read the unit."""

    group: str
    subjects: list[str]
    values: list[np.ndarray]
    measure: str


@dataclass(frozen=True)
class WordReading:
    """A corpus built from the words people read, their measures per group, and what was left out."""

    corpus: Corpus
    measures: dict[str, WordMeasures]
    report: ExclusionReport
    unit_ids: list                  # the source's unit id of each corpus unit
    subject_units: dict             # {(subject, unit id)} present, for the fixation reader


def _read(path: Path, usecols=None) -> pd.DataFrame:
    """One table; words stay strings ("null" and "" are words, not missing values)."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=usecols)
        return pd.read_csv(path, keep_default_na=False, na_values=[], dtype=str, usecols=usecols)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot be read as a table ({type(e).__name__}: {str(e)[:200]}).") from e


def header(path: Path) -> list[str]:
    """A table's column names, read without its rows."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet
            return list(pyarrow.parquet.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot be read as a table ({type(e).__name__}: {str(e)[:200]}).") from e


def columns_of(path: Path, names: list[str], columns: dict, subject_pattern: str = r"^([^-_.]+)",
               fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """``{field: column}`` of a table with column ``names``: where each of ``fields`` (and ``group`` when named) is;
    the subject ``from_filename`` is the column ``__subject``. A missing column or a file name that does not match
    ``subject_pattern`` stops naming the file and its columns."""
    wanted = {f: columns.get(f) for f in (*fields, "group") if columns.get(f)}
    if wanted.get("subject") == FROM_FILENAME:
        if not subject_of(path, subject_pattern):
            raise DataError(f"{path}: its name does not match data.subject_pattern={subject_pattern!r}, "
                            "which gives the subject id when data.columns.subject=from_filename.")
        wanted["subject"] = "__subject"
    missing = [f"{c} (data.columns.{f})" for f, c in wanted.items() if c not in names and c != "__subject"]
    missing += [f"data.columns.{f}" for f in fields if f not in wanted and not in_file_order(columns, f)]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}; its columns are {list(names)[:20]}. "
                        "Name the columns in data.columns.")
    return wanted


def in_file_order(columns: dict, field: str) -> bool:
    """``data.columns.word_index: null``: each subject's words of a unit are numbered in file order (tables whose
    punctuation rows repeat the next word's index)."""
    return field == "word_index" and "word_index" in columns and columns["word_index"] is None


def subject_pattern_of(pattern) -> re.Pattern:
    """``data.subject_pattern`` compiled; refused unless it is a regular expression with a capture group (the id)."""
    try:
        compiled = re.compile(pattern)
    except (re.error, TypeError) as e:
        raise ConfigError(f"data.subject_pattern={pattern!r} is not a regular expression ({e}); give one whose first "
                          f"group is the subject id, e.g. {PATTERN_EXAMPLE}.") from e
    if compiled.groups < 1:
        raise ConfigError(f"data.subject_pattern={pattern!r} has no capture group: put the subject id in "
                          f"parentheses, e.g. {PATTERN_EXAMPLE}.")
    return compiled


def subject_of(path: Path, subject_pattern: str) -> str | None:
    """The subject id the file's name gives (the pattern's first group), or None."""
    match = re.search(subject_pattern, path.name)
    return (match.group(1) or None) if match else None


def read_tables(paths: list[Path], columns: dict, subject_pattern: str = r"^([^-_.]+)",
                fields: tuple[str, ...] = FIELDS) -> pd.DataFrame:
    """The tables as one frame with the columns ``fields`` (``subject, unit, word_index, word, measure``), ``file``
    and ``row`` (``group`` too when ``columns`` names one). A missing column stops naming the file and its columns."""
    if not paths:
        raise DataError("data.path matches no file: give a table, a folder or a glob such as 'lab/*-feats.csv'.")
    frames = []
    for path in paths:
        table = _read(path)
        wanted = columns_of(path, list(table.columns), columns, subject_pattern, fields)
        if wanted.get("subject") == "__subject":
            table["__subject"] = subject_of(path, subject_pattern)
        frame = table[list(wanted.values())].set_axis(list(wanted), axis=1)
        if in_file_order(columns, "word_index") and "word_index" in fields:
            frame["word_index"] = frame.groupby(["subject", "unit"], sort=False).cumcount().astype(str)
        frames.append(frame.assign(file=str(path), row=np.arange(len(frame)) + 2))   # +2: the header, 1-based lines
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise DataError(f"{paths[0]}{f' and the {len(paths) - 1} other tables' if len(paths) > 1 else ''}: a header "
                        "and no rows; there is nothing to read.")
    return frame


def report_empty(paths: list[Path], frame: pd.DataFrame, columns: dict, subject_pattern: str, group: str,
                 report: ExclusionReport) -> None:
    """Report each table of ``paths`` that gave ``frame`` no row (a header alone). The subject its name gives is left
    out, not refused: such a file is the export of a session that recorded nothing, and a careful researcher keeps
    the other readers and records the loss (as for a Reading Brain subject without data); a group left with fewer
    than 2 readers is refused where the groups are checked. Its group is ``group`` unless a column names groups."""
    read, subjects = set(frame.file), set(frame.subject)
    where = "unknown" if columns.get("group") else group
    for path in paths:
        if str(path) in read:
            continue
        subject = subject_of(path, subject_pattern) if columns.get("subject") == FROM_FILENAME else None
        if subject is not None and subject not in subjects:
            report.add(where, "subject", subject, f"{path} has a header and no rows: no reading of this subject")
        else:
            report.add(where, "table", str(path), "a header and no rows: nothing is read from it", action="ignored")


def _numbers(frame: pd.DataFrame, field: str, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[field], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) if field == "measure" else ~np.isfinite(values)
    if bad.any():
        row = frame.iloc[int(np.argmax(bad))]
        raise DataError(f"{row.file}, line {row.row}: subject {row.subject}, unit {row.unit}, word {row.word_index} "
                        f"({row.word!r}): {what} {row[field]!r}; {sum(bad)} such rows. Every value must be a number"
                        f"{' >= 0 (0: not fixated)' if field == 'measure' else ''}.")
    return values


def word_reading(frame: pd.DataFrame, measure: str, group: str = "L1") -> WordReading:
    """Check the long frame of :func:`read_tables` and build the corpus (units sorted by id) and each group's
    measures. Stops on NaN or negative values, duplicate word rows, gaps in the word indices and words that differ
    between subjects; leaves out (reported) units with fewer than 2 words or with words that are not whitespace
    tokens, and notes each subject's unread units. Two subjects with identical measures are refused
    (:func:`check_distinct`)."""
    frame = frame.assign(measure=_numbers(frame, "measure", measure), word_index=_numbers(frame, "word_index",
                                                                                          "word index"))
    if "group" not in frame.columns:
        frame = frame.assign(group=group)
    duplicated = frame.duplicated(["subject", "unit", "word_index"], keep=False)
    if duplicated.any():
        rows = frame[duplicated].head(2)
        raise DataError(f"{rows.file.iloc[0]}, lines {list(rows.row)}: subject {rows.subject.iloc[0]}, unit "
                        f"{rows.unit.iloc[0]}, word {rows.word_index.iloc[0]:g} appears {int(duplicated.sum())} times "
                        "in all; each subject has one row per word.")
    check_distinct(frame, ["unit", "word_index", "measure"], f"{measure} at every word of every unit", "data.path")
    unit_ids, unit_code = _codes(frame.unit)
    subject_ids, subject_code = _codes(frame.subject)
    groups = {g: sorted(set(frame.subject[frame.group == g]), key=_natural_key) for g in sorted(frame.group.unique())}
    group_of = dict(zip(frame.subject, frame.group))
    order = np.lexsort((frame.word_index.to_numpy(), subject_code, unit_code))
    unit_code, subject_code = unit_code[order], subject_code[order]
    index, word, value = frame.word_index.to_numpy()[order], frame.word.to_numpy()[order], frame.measure.to_numpy()[order]
    file = frame.file.to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(unit_code) != 0) | (np.diff(subject_code) != 0)])
    ends = np.r_[starts[1:], len(order)]
    report, units, names, subject_units = ExclusionReport(), [], [], set()
    values = {g: [] for g in groups}
    reference, rows_of_unit = None, []
    for n, (a, b) in enumerate(zip(starts, ends)):
        unit, subject = unit_ids[unit_code[a]], subject_ids[subject_code[a]]
        if not np.array_equal(index[a:b], index[a] + np.arange(b - a)):
            gap = a + int(np.argmax(np.diff(index[a:b]) != 1))
            raise DataError(f"{file[a]}: subject {subject}, unit {unit}: word indices jump from {index[gap]:g} to "
                            f"{index[gap + 1]:g}; a unit's words must be numbered without gaps.")
        words = tuple(word[a:b])
        if reference is None:
            reference = (subject, words, file[a])
        elif words != reference[1]:
            raise DataError(_differ(unit, subject, words, file[a], *reference))
        subject_units.add((subject, unit))
        rows_of_unit.append((subject, a, b))
        if n + 1 == len(starts) or unit_code[starts[n + 1]] != unit_code[a]:      # the unit's last subject
            _add_unit(unit, reference[1], rows_of_unit, value, groups, group_of, report, units, names, values)
            reference, rows_of_unit = None, []
    if not units:
        raise DataError("no unit with 2 or more words is left to compare (every unit was left out; see the report).")
    for g, ids in groups.items():
        for s, subject in enumerate(ids):
            unread = [str(u) for u, block in zip(names, values[g]) if np.isnan(block[s]).all()]
            if unread:
                report.add(g, "subject_units", subject, f"did not read {len(unread)} of {len(names)} units "
                           f"({', '.join(unread[:5])}{', ...' if len(unread) > 5 else ''}); the others' mean is used "
                           "for them", action="ignored")
    corpus = Corpus((tuple(units),), names=tuple(str(u) for u in names))
    measures = {g: WordMeasures(g, ids, values[g], measure) for g, ids in groups.items()}
    return WordReading(corpus, measures, report, names, subject_units)


def check_sample(n, seed) -> None:
    """Refuse a ``data.sample`` that is not a whole number of units >= 2 (a bool, 1.5 or "abc" is never coerced) and a
    ``data.sample_seed`` that is not a whole number >= 0."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise ConfigError(f"data.sample={n!r}: give a whole number of units, 2 or more, or null to read every unit.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"data.sample_seed={seed!r}: give a whole number >= 0.")


def sample_units(reading: WordReading, n: int, seed: int = 0) -> WordReading:
    """A seeded random sample of ``n`` of the corpus units (kept in corpus order), for a first look at an expensive
    analysis; the units left out are one report entry per group. More units than there are is refused."""
    total = len(reading.unit_ids)
    if n > total:
        raise DataError(f"data.sample={n}: the data has {total} units to compare (after the exclusions in the "
                        f"report); give at most {total}, or null to read every unit.")
    if n == total:
        return reading
    kept = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    report = ExclusionReport(list(reading.report.entries))
    for g in reading.measures:
        report.add(g, "sample", f"{total - n} of {total} units", f"data.sample={n}, data.sample_seed={seed}: "
                   f"a random {n} units are read, the other {total - n} are not", action="not sampled")
    units = reading.corpus.articles[0]
    corpus = Corpus((tuple(units[k] for k in kept),), names=tuple(reading.corpus.names[k] for k in kept))
    measures = {g: WordMeasures(g, m.subjects, [m.values[k] for k in kept], m.measure)
                for g, m in reading.measures.items()}
    return WordReading(corpus, measures, report, [reading.unit_ids[k] for k in kept], reading.subject_units)


def check_distinct(frame: pd.DataFrame, fields: list[str], what: str, where: str) -> None:
    """Refuse two subjects whose rows (``fields``, in any order) are the same: one subject stored twice
    (a file saved under a second name) would count as two readers and move the ceiling."""
    rows = pd.util.hash_pandas_object(frame[fields], index=False).to_numpy()
    at = frame.groupby("subject", sort=False).indices
    seen = {}
    for subject in sorted(at, key=_natural_key):
        first = seen.setdefault(np.sort(rows[at[subject]]).tobytes(), subject)
        if first != subject:
            raise DataError(f"subjects {first} ({frame.file.iloc[at[first][0]]}) and {subject} "
                            f"({frame.file.iloc[at[subject][0]]}) have identical {what}, {len(at[subject])} rows "
                            f"each: one subject stored twice? Remove the copy from {where}, or restore that subject's "
                            "own data.")


def _add_unit(unit, words, rows_of_unit, value, groups, group_of, report, units, names, values) -> None:
    """Append one unit to the corpus and each group's measures, or report why it is left out."""
    problem = _unit_problem(words)
    if problem:
        for g in groups:
            report.add(g, "unit", str(unit), problem)
        return
    names.append(unit)
    units.append(" ".join(words))
    blocks = {g: np.full((len(ids), len(words)), np.nan) for g, ids in groups.items()}
    for subject, a, b in rows_of_unit:
        g = group_of[subject]
        blocks[g][groups[g].index(subject)] = value[a:b]
    for g, block in blocks.items():
        values[g].append(block)


def _differ(unit, subject, words, file, ref_subject, ref_words, ref_file) -> str:
    at = next((i for i, (a, b) in enumerate(zip(words, ref_words)) if a != b), min(len(words), len(ref_words)))

    def shown(w):
        return repr(w[at]) if at < len(w) else "(none)"
    return (f"{file}: subject {subject}, unit {unit} has {len(words)} words, word {at} {shown(words)}; subject "
            f"{ref_subject} ({ref_file}) has {len(ref_words)} words, word {at} {shown(ref_words)}. The subjects' "
            "words for one unit must be the same.")


def _unit_problem(words: tuple[str, ...]) -> str | None:
    """Why a unit cannot be compared word by word: too short, or words that are not whitespace tokens."""
    if len(words) < 2:
        return f"{len(words)} word(s); word importance and saccades need 2 or more"
    odd = next((i for i, w in enumerate(words) if not w or len(w.split()) != 1), None)
    if odd is not None:
        return (f"word {odd} is {words[odd]!r}: not one whitespace token, so the model's words would not line up "
                "with the readers'")
    return None


def _natural_key(value) -> tuple:
    """Numbers in numeric order (unit 2 before unit 10), everything else as text."""
    text = str(value)
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text) if t)


def _codes(column: pd.Series) -> tuple[list, np.ndarray]:
    """The column's distinct values in natural order, and each row's position among them."""
    distinct = sorted(column.unique(), key=_natural_key)
    return distinct, column.map({v: i for i, v in enumerate(distinct)}).to_numpy()
