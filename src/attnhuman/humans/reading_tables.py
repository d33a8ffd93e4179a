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
from attnhuman.humans.word_table import (
    FIELDS,
    WordMeasures,
    WordReading,
    columns_of,
    header,
    read_tables,
    sample_units,
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

    has_fmri = False

    def missing(self, groups) -> list[str]:
        """Files that are not there, and tables without the named columns (their headers only are read)."""
        absent = [str(p) for p in [*self.tables, *([self.fixations] if self.fixations else [])] if not p.is_file()]
        if absent:
            return [f"reading data file(s) missing: {absent}"]
        problems = []
        checks = [(p, self.columns, FIELDS) for p in self.tables]
        checks += [(self.fixations, self.fixation_columns, FIXATION_FIELDS)] if self.fixations else []
        for path, columns, fields in checks:
            try:
                columns_of(path, header(path), columns, self.subject_pattern, fields)
            except DataError as e:
                problems.append(str(e))
        return problems

    def fingerprint(self) -> str:
        """What the data is: the tables' names and contents, and the unit sample."""
        sample = f";sample={self.sample},seed={self.sample_seed}" if self.sample is not None else ""
        return "tables:" + identity.of_files([*self.tables, *([self.fixations] if self.fixations else [])]) + sample

    def provenance(self) -> dict[str, str]:
        sample = {"data_sample": f"{self.sample} units, seed {self.sample_seed}"} if self.sample is not None else {}
        return {"data_modified": "none", "data_files": ", ".join(p.name for p in self.tables)[:500], **sample}

    @cached_property
    def reading(self) -> WordReading:
        reading = word_reading(read_tables(self.tables, self.columns, self.subject_pattern),
                               str(self.columns["measure"]), self.group)
        return reading if self.sample is None else sample_units(reading, self.sample, self.sample_seed)

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
        """Saccade cohorts from the fixation report (none without one), and everything left out."""
        report = self._report(groups)
        if self.fixations is None:
            return {}, report
        frame = read_tables([self.fixations], self.fixation_columns, fields=FIXATION_FIELDS)
        present = {g: m for g, m in self.reading.measures.items() if g in groups}
        group_of = {s: g for g, m in self.reading.measures.items() for s in m.subjects}
        counts = saccade_counts(frame, self.reading, report, group_of)
        return {g: saccade_cohort(g, m.subjects, counts, corpus, report) for g, m in present.items()}, report

    def word_measures(self, corpus: Corpus, groups) -> dict[str, WordMeasures]:
        return {g: m for g, m in self.reading.measures.items() if g in groups}

    def fmri_cohorts(self, corpus: Corpus, groups, report: ExclusionReport) -> dict:
        """None: reading tables hold no fMRI."""
        return {}

