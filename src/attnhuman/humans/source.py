"""The contract of a source of human reading data. The application calls exactly these; a new source (a corpus, a
lab's recordings) implements them (README, "Add a data source"). :class:`attnhuman.humans.reading_brain.source.
ReadingBrain`, :class:`attnhuman.humans.reading_tables.ReadingTables`, :class:`attnhuman.humans.natural_stories.
NaturalStories` and :class:`attnhuman.humans.simulate.Simulation` do."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from attnhuman.corpus import Corpus
from attnhuman.humans.cohort import Cohort, ExclusionReport
from attnhuman.humans.reading_times import ReadingTimes
from attnhuman.humans.word_table import WordMeasures


@runtime_checkable
class HumanData(Protocol):
    """The corpus people read and what they did on it, on the corpus' cell index."""

    has_fmri: bool       # whether :meth:`fmri_cohorts` can give anything

    def missing(self, groups: list[str]) -> list[str]:
        """What the groups' data needs and lacks (files, columns), found cheaply, before any run exists."""

    def fingerprint(self) -> str:
        """What the data is: a digest of its files' contents (and of what selects from them, such as a sample)."""

    def provenance(self) -> dict[str, str]:
        """Tags of the run: at least ``data_modified`` (files that differ from their release, or ``none``)."""

    def corpus(self) -> Corpus:
        """The units (sentences or paragraphs) and their words, as the model reads them."""

    def cohorts(self, corpus: Corpus, groups: list[str]) -> tuple[dict[str, Cohort], ExclusionReport]:
        """Saccade cohorts of the groups (none without fixations), and everything left out."""

    def word_measures(self, corpus: Corpus, groups: list[str]) -> dict[str, WordMeasures]:
        """Each group's reading measure per word (none without reading times)."""

    def reading_times(self, corpus: Corpus, groups: list[str]) -> dict[str, dict[str, ReadingTimes]]:
        """Each group's reading times per word, per measure (none without them)."""

    def fmri_cohorts(self, corpus: Corpus, groups: list[str], report: ExclusionReport) -> dict[str, dict[str, Cohort]]:
        """``{group: {region: Cohort}}`` (none without fMRI), the exclusions added to ``report``."""
