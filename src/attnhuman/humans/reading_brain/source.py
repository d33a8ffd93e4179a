"""The Reading Brain release as a source of human data (:class:`attnhuman.humans.source.HumanData`): the corpus,
saccade cohorts and fMRI cohorts, from the release files under one folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from attnhuman import identity
from attnhuman.corpus import Corpus
from attnhuman.humans.cohort import Cohort, ExclusionReport, subject_id
from attnhuman.humans.reading_brain.fmri import load_fmri_cohorts
from attnhuman.humans.reading_brain.layout import GROUP_FILE_SUFFIX
from attnhuman.humans.reading_brain.release import CHECKSUMS, TEXT_FILE, Release
from attnhuman.humans.reading_brain.saccades import load_cohorts, subject_count


def load_corpus(release: Release) -> Corpus:
    return Corpus.from_text(Path(release.path(TEXT_FILE)))


@dataclass(frozen=True)
class ReadingBrain:
    """The Reading Brain release as a source of human data: the corpus, saccade cohorts and fMRI cohorts.

    ``subjects``: ``auto`` (true per-subject counts if present, else the proxy), ``counts`` or ``proxy``;
    ``exclude``: ``{group: [subject ids]}`` left out on purpose.
    """

    release: Release
    subjects: str = "auto"
    exclude: dict = field(default_factory=dict)

    has_fmri = True

    def missing(self, groups) -> list[str]:
        """The files the groups' cohorts need that are missing and will not be downloaded (data.download=false), a
        group the release does not have, and data.exclude_subjects leaving a group fewer than 2 subjects (its
        subjects counted in one file)."""
        unknown = [g for g in groups if g not in GROUP_FILE_SUFFIX]
        if unknown:
            return [f"analysis.groups names {', '.join(unknown)}: Reading Brain has the groups "
                    f"{', '.join(GROUP_FILE_SUFFIX)} only; set analysis.groups=[{','.join(GROUP_FILE_SUFFIX)}] or one of them."]
        needed = [TEXT_FILE, *(f"mean_saccade_num_{GROUP_FILE_SUFFIX[g]}.pkl" for g in groups)]
        missing = [name for name in needed if not self.release.has(name)]
        if missing and not self.release.download:
            return [f"Reading Brain file(s) {missing} missing from {self.release.root}: point data.root (or "
                    "$READING_BRAIN_DIR) at a folder with the release layout, or set data.download=true."]
        problems = []
        for g in (g for g in groups if self.exclude.get(g)):
            n = subject_count(self.release, g, self.subjects)
            left = n - len({subject_id(g, s) for s in range(n)} & set(self.exclude[g])) if n is not None else 2
            if left < 2:
                problems.append(f"data.exclude_subjects.{g} leaves {left} of the {n} {g} subjects: a group needs 2 or "
                                f"more readers to have a ceiling; exclude fewer, or leave {g} out of analysis.groups.")
        return problems

    def fingerprint(self) -> str:
        """What the data is: the contents of the release files (and count files) in the folder."""
        names = [*CHECKSUMS, *(f"saccade_num_{s}.pkl" for s in GROUP_FILE_SUFFIX.values())]
        digests = [(n, self.release.digest(n)) for n in names if self.release.has(n)]
        return "reading_brain:" + identity.of_value(digests)

    def provenance(self) -> dict[str, str]:
        """Tags of the run: the release files read so far that differ from the release (``data_modified``)."""
        return {"data_modified": ", ".join(self.release.modified) or "none"}

    def corpus(self) -> Corpus:
        return load_corpus(self.release)

    def cohorts(self, corpus: Corpus, groups) -> tuple[dict[str, Cohort], ExclusionReport]:
        return load_cohorts(self.release, corpus, tuple(groups), subjects=self.subjects, exclude=self.exclude)

    def word_measures(self, corpus: Corpus, groups) -> dict:
        """None: the release has no word-level reading times."""
        return {}

    def reading_times(self, corpus: Corpus, groups) -> dict:
        """None: the release has no word-level reading times."""
        return {}

    def fmri_cohorts(self, corpus: Corpus, groups, report: ExclusionReport) -> dict[str, dict[str, Cohort]]:
        """``{group: {region: Cohort}}``, the fMRI exclusions added to ``report``."""
        from_groups = {g: list(self.exclude.get(g, [])) for g in groups}
        return {g: load_fmri_cohorts(self.release, corpus, g, exclude=from_groups[g], report=report) for g in groups}
