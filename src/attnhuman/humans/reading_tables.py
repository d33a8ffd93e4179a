"""A corpus read by people, from tables (``data=word_measures``, ``geco``, ``eyelink``): units with their words,
subjects in named groups, each subject's measure per word and, where a fixation report is given, saccade cohorts.

A source of human data (:class:`attnhuman.humans.source.HumanData`); what a job analyses follows from what the corpus
holds.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from attnhuman import identity
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, Exclusion, ExclusionReport
from attnhuman.humans.fixations import saccade_cohort, saccade_counts
from attnhuman.humans.reading_times import ReadingTimes
from attnhuman.humans.word_table import (
    FIELDS,
    FROM_FILENAME,
    WordMeasures,
    WordReading,
    check_sample,
    columns_of,
    header,
    read_tables,
    report_empty,
    sample_units,
    subject_pattern_of,
    word_reading,
)

TABLES = ("*.csv", "*.csv.gz", "*.parquet")
FIXATION_FIELDS = ("subject", "unit", "order", "word")


def table_paths(path) -> list[Path]:
    """The tables ``path`` names: a file, every table in a folder, or a glob (``lab/*-feats.csv``)."""
    if not path:
        raise DataError("data.path is not set: give a table, a folder of tables or a glob such as 'lab/*.csv'.")
    where = Path(str(path)).expanduser()
    if where.is_dir():
        return sorted(p for pattern in TABLES for p in where.glob(pattern))
    if where.is_file():
        return [where]
    found = sorted(Path(p) for p in glob.glob(str(where)))
    if not found:
        raise DataError(f"data.path={path}: no such file, folder or matching files.")
    return found


@dataclass
class ReadingTables:
    """Word tables (and optionally one fixation report) of a reading corpus; parsed once, when first needed."""

    tables: list[Path]
    columns: dict
    group: str = "L1"
    subject_pattern: str = r"^([^-_.]+)"
    fixations: Path | None = None
    fixation_columns: dict = field(default_factory=dict)
    sample: int | None = None       # read a seeded random sample of this many units (None: all)
    sample_seed: int = 0
    times: dict | None = None       # {name: column} reading measures for predictive power (None: the measure column)

    has_fmri = False

    def __post_init__(self):
        """Settings are checked when the source is built: the sample, and the subject pattern where it is used."""
        check_sample(self.sample, self.sample_seed)
        if self.columns.get("subject") == FROM_FILENAME:
            subject_pattern_of(self.subject_pattern)

    def missing(self, groups) -> list[str]:
        """Files that are not there and tables without the named columns (their headers only are read); what the
        values hold is checked when they are parsed (:meth:`cohorts`), still before any run exists."""
        absent = [f"{p}: no such table (data.path)" for p in self.tables if not p.is_file()]
        if self.fixations is not None and not self.fixations.is_file():
            absent.append(f"{self.fixations}: no such fixation report; put it there, or set data.fixation_report=null "
                          "to read the word measures alone")
        if absent:
            return absent
        problems = []
        checks = [(p, self.columns, FIELDS) for p in self.tables]
        checks += [(self.fixations, self.fixation_columns, FIXATION_FIELDS)] if self.fixations else []
        for path, columns, fields in checks:
            try:
                columns_of(path, header(path), columns, self.subject_pattern, fields)
            except DataError as e:
                problems.append(str(e))
        return problems

    def _check_groups(self, groups) -> None:
        """Refuse a requested group with fewer than 2 readers (a ceiling compares each reader with the others), and
        requested groups none of which the data has (no result at all). A requested group the data lacks beside one
        it has is reported (:meth:`_report`)."""
        readers = {g: m.subjects for g, m in self.reading.measures.items()}
        few = [g for g in groups if g in readers and len(readers[g]) < 2]
        if not few and any(g in readers for g in groups):
            return
        group = few[0] if few else groups[0]
        names = readers.get(group, [])
        who = f" ({', '.join(names)})" if names else ""
        keep = [g for g in groups if len(readers.get(g, [])) >= 2] or [g for g in readers if len(readers[g]) >= 2]
        todo = f"leave it out with analysis.groups=[{','.join(keep)}]" if keep else "give it 2 or more readers"
        have = ", ".join(f"{g} with {len(s)}" for g, s in readers.items())
        raise DataError(f"group {group} has {len(names)} reader(s){who} in the data (its groups: {have}): a group needs "
                        f"2 or more readers to have a ceiling; {todo}.")

    def fingerprint(self) -> str:
        """What the data is: the tables' names and contents, and the unit sample."""
        sample = f";sample={self.sample},seed={self.sample_seed}" if self.sample is not None else ""
        return "tables:" + identity.of_files([*self.tables, *([self.fixations] if self.fixations else [])]) + sample

    def provenance(self) -> dict[str, str]:
        sample = {"data_sample": f"{self.sample} units, seed {self.sample_seed}"} if self.sample is not None else {}
        return {"data_modified": "none", "data_files": ", ".join(p.name for p in self.tables)[:500], **sample}

    @cached_property
    def reading(self) -> WordReading:
        """The word tables, parsed once; tables with a header alone reported (:func:`report_empty`)."""
        frame = read_tables(self.tables, self.columns, self.subject_pattern)
        reading = word_reading(frame, str(self.columns["measure"]), self.group)
        report_empty(self.tables, frame, self.columns, self.subject_pattern, self.group, reading.report)
        return reading if self.sample is None else sample_units(reading, self.sample, self.sample_seed)

    @cached_property
    def saccades(self) -> tuple[dict, ExclusionReport]:
        """Each (subject, unit)'s saccade counts from the fixation report, and what it reports; parsed once."""
        frame = read_tables([self.fixations], self.fixation_columns, fields=FIXATION_FIELDS)
        group_of = {s: g for g, m in self.reading.measures.items() for s in m.subjects}
        report = ExclusionReport()
        return saccade_counts(frame, self.reading, report, group_of), report

    def corpus(self) -> Corpus:
        return self.reading.corpus

    def _report(self, groups) -> ExclusionReport:
        report = ExclusionReport([Exclusion(**e.__dict__) for e in self.reading.report.entries])
        for g in groups:
            if g not in self.reading.measures:
                report.add(g, "group", g, f"the data has no subject in group {g} (groups: "
                           f"{sorted(self.reading.measures)})")
        return report

    def cohorts(self, corpus: Corpus, groups) -> tuple[dict[str, Cohort], ExclusionReport]:
        """Saccade cohorts from the fixation report (none without one), and everything left out; groups of fewer than
        2 readers refused (:meth:`_check_groups`)."""
        self._check_groups(groups)
        report = self._report(groups)
        if self.fixations is None:
            return {}, report
        counts, fixations = self.saccades
        report.entries.extend(fixations.entries)
        present = {g: m for g, m in self.reading.measures.items() if g in groups}
        return {g: saccade_cohort(g, m.subjects, counts, corpus, report) for g, m in present.items()}, report

    def word_measures(self, corpus: Corpus, groups) -> dict[str, WordMeasures]:
        return {g: m for g, m in self.reading.measures.items() if g in groups}

    def reading_times(self, corpus: Corpus, groups) -> dict[str, dict[str, ReadingTimes]]:
        """Eye-tracking reading times, ``{group: {name: ...}}``: each column of ``times`` (the EyeLink durations),
        else the measure column; each column parsed and checked like the measure, on the same units."""
        out = {g: {} for g in self.word_measures(corpus, groups)}
        for name, column in (self.times or {self.columns["measure"]: self.columns["measure"]}).items():
            reading = self.reading if column == self.columns["measure"] else self._reading_of(str(column))
            for g in out:
                m = reading.measures[g]
                out[g][str(name)] = ReadingTimes(g, str(name), "eye_tracking", subjects=m.subjects, values=m.values)
        return out

    def _reading_of(self, column: str) -> WordReading:
        """The tables read with ``column`` as the measure, on the units of :attr:`reading`."""
        columns = {**self.columns, "measure": column}
        for path in self.tables:
            columns_of(path, header(path), columns, self.subject_pattern, FIELDS)
        reading = word_reading(read_tables(self.tables, columns, self.subject_pattern), column, self.group)
        if self.sample is not None:
            reading = sample_units(reading, self.sample, self.sample_seed)
        if reading.corpus.names != self.reading.corpus.names:
            raise DataError(f"data.times: {column} gives other units than {self.columns['measure']} "
                            f"({len(reading.corpus)} vs {len(self.reading.corpus)}).")
        return reading

    def fmri_cohorts(self, corpus: Corpus, groups, report: ExclusionReport) -> dict:
        """None: reading tables hold no fMRI."""
        return {}

