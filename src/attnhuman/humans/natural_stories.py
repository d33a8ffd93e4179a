"""The Natural Stories corpus (``data=natural_stories``; Futrell et al. 2021): 10 stories read word by word in
self-paced reading by native English readers, published as per-word means
(docs/method.md, "Reading times from model predictions"). A source of human data (:class:`attnhuman.humans.source.HumanData`) with reading times only.

Texts (:attr:`Corpus.articles`) are the stories in item order; units are their sentences (:func:`sentence_spans`),
named ``<item>-<sentence>`` (``1-3``: story 1, sentence 3, both 1-based, counting the sentences left out). A sentence
of fewer than 2 words is left out and reported; :attr:`Corpus.starts` keeps each unit's place in its story.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman import identity
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, ExclusionReport
from attnhuman.humans.reading_times import ReadingTimes
from attnhuman.humans.word_table import WordMeasures

TOKENS, WORDINFO = "all_stories.tok", "processed_wordinfo.tsv"
COLUMNS = {TOKENS: ("word", "zone", "item"), WORDINFO: ("word", "zone", "item", "nItem", "meanItemRT")}
GROUP, MEASURE = "L1", "RT"          # native English readers; the mean self-paced reading time (meanItemRT, ms)
CLOSING = "'\"’”)"                   # stripped from a word's end before looking for its sentence-final mark
SENTENCE_END = ".?!"


def ends_sentence(word: str) -> bool:
    """Whether ``word`` ends a sentence: its last character, once trailing quotes and ``)`` are removed, is . ? or !"""
    return word.rstrip(CLOSING)[-1:] in tuple(SENTENCE_END)


def sentence_spans(words: tuple[str, ...]) -> list[tuple[int, int]]:
    """``[start, end)`` of each sentence of a story's words; the story's end ends a sentence."""
    ends = [i + 1 for i, w in enumerate(words) if ends_sentence(w)]
    if not ends or ends[-1] != len(words):
        ends.append(len(words))
    return list(zip([0, *ends[:-1]], ends))


@dataclass(frozen=True)
class Stories:
    """The stories' words and mean reading times (ms), each ``(n_words_s,)``, in item order."""

    items: list[int]
    words: list[tuple[str, ...]]
    rt: list[np.ndarray]


def _read(path: Path) -> pd.DataFrame:
    """A tab-separated file as text (quotes are part of words), with its line numbers (``line``); a missing column
    stops naming the file and the columns it has."""
    try:
        frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, na_values=[])
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot be read as a tab-separated table ({type(e).__name__}: {str(e)[:200]}).") from e
    absent = [c for c in COLUMNS[path.name] if c not in frame.columns]
    if absent:
        raise DataError(f"{path}: no column {', '.join(absent)}; its columns are {list(frame.columns)}. Restore the "
                        "file from the Natural Stories release (languageMIT/naturalstories).")
    return frame.assign(line=np.arange(len(frame)) + 2)


def _positive(frame: pd.DataFrame, path: Path, column: str, whole: bool) -> np.ndarray:
    """``frame[column]`` as numbers; a value that is not a positive (whole) number stops naming its line."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0) | ((values % 1 != 0) if whole else False)
    if bad.any():
        row = frame.iloc[int(np.argmax(bad))]
        kind = "a positive whole number" if whole else "a positive number"
        raise DataError(f"{path}, line {row.line}: {column} is {row[column]!r}, not {kind} (item {row['item']}, "
                        f"zone {row.zone}, word {row.word!r}); {int(bad.sum())} such row(s). Restore the file from "
                        "the Natural Stories release.")
    return values


def _keyed(path: Path) -> pd.DataFrame:
    """The file with numeric ``item`` and ``zone``, sorted by them; a duplicated (item, zone) stops naming both lines."""
    frame = _read(path)
    frame = frame.assign(item=_positive(frame, path, "item", True).astype(np.int64),
                         zone=_positive(frame, path, "zone", True).astype(np.int64))
    frame = frame.sort_values(["item", "zone"], kind="stable").reset_index(drop=True)
    twice = frame.duplicated(["item", "zone"], keep=False)
    if twice.any():
        rows = frame[twice].head(2)
        raise DataError(f"{path}, lines {' and '.join(map(str, rows.line))}: item {rows['item'].iloc[0]}, zone "
                        f"{rows.zone.iloc[0]} appears {int(twice.sum())} times in all; each word has one row.")
    return frame


def _check_zones(frame: pd.DataFrame, path: Path) -> None:
    """Each story's zones are 1, 2, 3 ... without a gap."""
    for item, story in frame.groupby("item", sort=True):
        zones = story.zone.to_numpy()
        gap = np.flatnonzero(zones != np.arange(1, len(zones) + 1))
        if gap.size:
            row = story.iloc[int(gap[0])]
            raise DataError(f"{path}, line {row.line}: item {item}, zone {row.zone} ({row.word!r}) follows zone "
                            f"{zones[gap[0] - 1] if gap[0] else 0}; a story's zones are 1, 2, 3 ... without a gap.")


def _check_join(tokens: pd.DataFrame, info: pd.DataFrame, root: Path) -> None:
    """Both files have the same (item, zone) pairs and the same word at each."""
    joined = tokens.merge(info, on=["item", "zone"], how="outer", suffixes=("_tok", "_info"), indicator=True)
    alone = joined[joined["_merge"] != "both"]
    if len(alone):
        row = alone.iloc[0]
        has, lacks, line = ((TOKENS, WORDINFO, row.line_tok) if row["_merge"] == "left_only"
                            else (WORDINFO, TOKENS, row.line_info))
        raise DataError(f"{root / has}, line {int(line)}: item {row['item']}, zone {row.zone} has no row in "
                        f"{root / lacks}; {len(alone)} such (item, zone) pair(s). The two files must describe the "
                        "same words: restore them from the Natural Stories release.")
    differ = joined[joined.word_tok != joined.word_info]
    if len(differ):
        row = differ.iloc[0]
        raise DataError(f"{root / TOKENS}, line {row.line_tok}: item {row['item']}, zone {row.zone} is "
                        f"{row.word_tok!r}, but {row.word_info!r} in {root / WORDINFO} (line {row.line_info}); the "
                        "two files must have the same words.")


def read_stories(root: Path) -> Stories:
    """The stories of ``all_stories.tok`` with ``processed_wordinfo.tsv``'s mean reading times, every value checked."""
    tokens, info = _keyed(root / TOKENS), _keyed(root / WORDINFO)
    _check_zones(tokens, root / TOKENS)
    _positive(info, root / WORDINFO, "nItem", True)
    info = info.assign(meanItemRT=_positive(info, root / WORDINFO, "meanItemRT", False))
    _check_join(tokens, info, root)
    items = sorted(tokens.item.unique())
    stories = [tokens.item == item for item in items]
    rt = info.meanItemRT.to_numpy()          # both sorted by (item, zone), one to one
    return Stories([int(i) for i in items], [tuple(tokens.word[s]) for s in stories], [rt[s.to_numpy()] for s in stories])


@dataclass(frozen=True)
class NaturalStories:
    """Natural Stories under ``root`` (``all_stories.tok``, ``processed_wordinfo.tsv``); parsed once, when first
    needed."""

    root: Path

    has_fmri = False

    @property
    def files(self) -> list[Path]:
        return [Path(self.root) / TOKENS, Path(self.root) / WORDINFO]

    def missing(self, groups) -> list[str]:
        """Files that are not there, and requested groups without the native readers (another group beside them,
        such as L2 in the default groups, is reported by :meth:`cohorts`)."""
        problems = [f"{p}: no such file; put the Natural Stories release's {p.name} there (languageMIT/naturalstories)"
                    " or set data.root to the folder that holds it" for p in self.files if not p.is_file()]
        others = [g for g in groups if g != GROUP]
        if GROUP not in groups:
            problems.append(f"analysis.groups=[{','.join(groups)}]: Natural Stories has native readers only (group "
                            f"{GROUP}), not {', '.join(others)}; set analysis.groups=[{GROUP}].")
        return problems

    def fingerprint(self) -> str:
        """What the data is: the two files' contents."""
        return "natural_stories:" + identity.of_files(self.files)

    def provenance(self) -> dict[str, str]:
        return {"data_modified": "none", "data_files": f"{TOKENS}, {WORDINFO}"}

    @cached_property
    def stories(self) -> Stories:
        return read_stories(Path(self.root))

    @cached_property
    def units(self) -> tuple[Corpus, list[tuple[int, int, int]], ExclusionReport]:
        """The corpus, each kept unit's ``(story, start, end)`` (story 0-based, words ``[start, end)``), and the
        sentences left out."""
        articles, names, starts, spans, report = [], [], [], [], ExclusionReport()
        for s, (item, words) in enumerate(zip(self.stories.items, self.stories.words)):
            kept = []
            for k, (a, b) in enumerate(sentence_spans(words), start=1):
                if b - a < 2:
                    report.add(GROUP, "unit", f"{item}-{k}", f"{b - a} word ({' '.join(words[a:b])!r}, zone {a + 1} "
                               f"of item {item}): a unit needs 2 or more words")
                    continue
                kept.append(" ".join(words[a:b]))
                names.append(f"{item}-{k}")
                starts.append(a)
                spans.append((s, a, b))
            articles.append(tuple(kept))
        return Corpus(tuple(articles), names=tuple(names), starts=tuple(starts)), spans, report

    def corpus(self) -> Corpus:
        return self.units[0]

    def cohorts(self, corpus: Corpus, groups) -> tuple[dict[str, Cohort], ExclusionReport]:
        """No saccade cohorts (self-paced reading has no fixations); the sentences left out, and requested groups
        other than the native readers."""
        report = ExclusionReport(list(self.units[2].entries))
        for g in (g for g in groups if g != GROUP):
            report.add(g, "group", g, f"Natural Stories has native readers only (group {GROUP})")
        return {}, report

    def word_measures(self, corpus: Corpus, groups) -> dict[str, WordMeasures]:
        """None: only per-word means are published, no reader's own times."""
        return {}

    def reading_times(self, corpus: Corpus, groups) -> dict[str, dict[str, ReadingTimes]]:
        """``{"L1": {"RT": ...}}``: one row, the mean reading time of each word (means=True)."""
        if GROUP not in groups:
            return {}
        spans = self.units[1]
        if len(corpus) != len(spans):
            raise DataError(f"the corpus has {len(corpus)} units, Natural Stories {len(spans)}: reading times are "
                            "given for this source's own corpus only.")
        values = [self.stories.rt[s][a:b][None, :] for s, a, b in spans]
        return {GROUP: {MEASURE: ReadingTimes(GROUP, MEASURE, "self_paced", ["mean"], values, means=True)}}

    def fmri_cohorts(self, corpus: Corpus, groups, report: ExclusionReport) -> dict:
        """None: Natural Stories has no fMRI."""
        return {}
