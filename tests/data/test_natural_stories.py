"""Natural Stories (data=natural_stories) against its files read independently: the stories, the sentence rule, the
mean reading times, and damaged copies refused with their line named."""
import csv
import re
import shutil

import numpy as np
import pytest

from attnhuman.errors import DataError
from attnhuman.humans.natural_stories import NaturalStories
from helpers.paths import DATA

STORIES = DATA / "natural_stories"
FILES = ("all_stories.tok", "processed_wordinfo.tsv")


def _rows(name: str) -> list[dict]:
    with open(STORIES / name, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def stories():
    data = NaturalStories(STORIES)
    corpus = data.corpus()
    return data, corpus, data.cohorts(corpus, ["L1"])[1]


def _sentences(words: list[str]) -> list[list[str]]:
    """The README's rule, written again: a word ending in . ? or ! before any closing quotes or brackets ends one."""
    out, current = [], []
    for w in words:
        current.append(w)
        if re.search(r"[.?!][’”'\")]*$", w):
            out.append(current)
            current = []
    return out + ([current] if current else [])


def test_ten_stories_of_10256_words_in_506_sentences_three_of_one_word_left_out(stories):
    data, corpus, report = stories
    words = {}
    for row in _rows("all_stories.tok"):
        words.setdefault(int(row["item"]), []).append(row["word"])
    assert sorted(words) == list(range(1, 11)) and sum(map(len, words.values())) == 10256
    sentences = {item: _sentences(w) for item, w in words.items()}
    assert sum(map(len, sentences.values())) == 506
    kept = [(f"{item}-{k}", " ".join(s)) for item in sorted(sentences) for k, s in enumerate(sentences[item], 1)
            if len(s) >= 2]
    assert list(zip(corpus.names, corpus.sentences)) == kept and len(corpus) == 503
    assert int(corpus.n_words.sum()) == 10253 and len(corpus.articles) == 10
    assert [f"[{e.group}] {e.level} {e.item}: {e.action}: {e.reason}" for e in report.entries] == [
        "[L1] unit 3-23: excluded: 1 word (\"'Scratch!'\", zone 449 of item 3): a unit needs 2 or more words",
        "[L1] unit 6-25: excluded: 1 word (\"Sticky?'\", zone 394 of item 6): a unit needs 2 or more words",
        "[L1] unit 6-35: excluded: 1 word ('Sticky.', zone 501 of item 6): a unit needs 2 or more words"]
    for k in range(len(corpus)):                    # each unit's place in its story, gaps where units are left out
        a, start = corpus.article_of[k], corpus.text_starts[k]
        assert list(corpus.words[k]) == words[a + 1][start:start + corpus.n_words[k]]


@pytest.mark.parametrize("item, zone", [(1, 1), (2, 749), (3, 450), (6, 502), (10, 939)])
def test_the_reading_times_are_the_published_means(stories, item, zone):
    data, corpus, _ = stories
    times = data.reading_times(corpus, ["L1"])
    assert list(times) == ["L1"] and list(times["L1"]) == ["RT"]
    rt = times["L1"]["RT"]
    assert (rt.paradigm, rt.subjects, rt.means) == ("self_paced", ["mean"], True)
    published = next(float(r["meanItemRT"]) for r in _rows("processed_wordinfo.tsv")
                     if (int(r["item"]), int(r["zone"])) == (item, zone))
    k = next(k for k in range(len(corpus)) if corpus.article_of[k] == item - 1
             and corpus.text_starts[k] <= zone - 1 < corpus.text_starts[k] + corpus.n_words[k])
    at = zone - 1 - corpus.text_starts[k]
    assert rt.values[k].shape == (1, corpus.n_words[k]) and rt.values[k][0, at] == published
    assert rt.flat()[0, corpus.word_offsets[k] + at] == published and not np.isnan(rt.flat()).any()


def test_what_natural_stories_has_and_lacks(stories, tmp_path):
    data, corpus, _ = stories
    assert data.missing(["L1"]) == [] and data.word_measures(corpus, ["L1"]) == {}
    assert data.cohorts(corpus, ["L1"])[0] == {} and data.fmri_cohorts(corpus, ["L1"], None) == {}
    assert data.missing(["L1", "L2"]) == []                   # the default groups: L2 reported, L1 analysed
    group, = data.cohorts(corpus, ["L1", "L2"])[1].select(level="group")
    assert (group.group, group.item, group.reason) == ("L2", "L2", "Natural Stories has native readers only (group L1)")
    assert data.missing(["L2"]) == ["analysis.groups=[L2]: Natural Stories has native readers only (group L1), not "
                                    "L2; set analysis.groups=[L1]."]
    assert NaturalStories(tmp_path).missing(["L1"]) == [
        f"{tmp_path / name}: no such file; put the Natural Stories release's {name} there "
        "(languageMIT/naturalstories) or set data.root to the folder that holds it" for name in FILES]


def _damaged(tmp_path, name: str, change) -> NaturalStories:
    """A copy of the files with ``name``'s lines changed by ``change`` (a function of the list of lines)."""
    for f in FILES:
        shutil.copy(STORIES / f, tmp_path / f)
    lines = (tmp_path / name).read_text().splitlines(keepends=True)
    (tmp_path / name).write_text("".join(change(lines)))
    return NaturalStories(tmp_path)


def test_a_word_without_its_reading_time_is_refused(tmp_path):
    data = _damaged(tmp_path, "processed_wordinfo.tsv", lambda lines: lines[:5] + lines[6:])
    removed = (STORIES / "processed_wordinfo.tsv").read_text().splitlines()[5].split("\t")
    item, zone = removed[2], removed[1]
    line = 2 + next(i for i, r in enumerate(_rows("all_stories.tok")) if (r["item"], r["zone"]) == (item, zone))
    with pytest.raises(DataError) as e:
        data.corpus()
    assert str(e.value) == (f"{tmp_path / 'all_stories.tok'}, line {line}: item {item}, zone {zone} has no "
                            f"row in {tmp_path / 'processed_wordinfo.tsv'}; 1 such (item, zone) pair(s). The two "
                            "files must describe the same words: restore them from the Natural Stories release.")


def test_a_mean_that_is_not_a_number_is_refused(tmp_path):
    data = _damaged(tmp_path, "processed_wordinfo.tsv",
                    lambda lines: lines[:3] + [lines[3].replace("\t" + lines[3].split("\t")[4] + "\t", "\tNA\t")]
                    + lines[4:])
    with pytest.raises(DataError) as e:
        data.corpus()
    assert str(e.value) == (f"{tmp_path / 'processed_wordinfo.tsv'}, line 4: meanItemRT is 'NA', not a positive number "
                            "(item 6, zone 946, word \"'Ah\"); 1 such row(s). Restore the file from the Natural "
                            "Stories release.")


def test_a_duplicated_zone_is_refused(tmp_path):
    data = _damaged(tmp_path, "all_stories.tok", lambda lines: lines[:3] + ["you\t1\t1\n"] + lines[4:])
    with pytest.raises(DataError) as e:
        data.corpus()
    assert str(e.value) == (f"{tmp_path / 'all_stories.tok'}, lines 2 and 4: item 1, zone 1 appears 2 times in all; "
                            "each word has one row.")
