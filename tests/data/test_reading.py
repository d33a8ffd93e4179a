"""Reading corpora from tables, against the real files read independently: GECO's published relFix column and
OneStop's fixation sequences counted by hand."""
import csv
import gzip
from collections import defaultdict

import numpy as np
import pytest

from attnhuman.analysis.word_importance import relative
from attnhuman.app.factories import eyelink, word_measures
from helpers.config import EYELINK, GECO_COLUMNS
from helpers.paths import DATA

GECO, ONESTOP = DATA / "geco_en", DATA / "onestop_sample"


@pytest.fixture(scope="module")
def geco():
    data = word_measures(path=str(GECO / "pp*-relfix-feats.csv.gz"), columns=GECO_COLUMNS)
    corpus = data.corpus()
    return data, corpus, data.word_measures(corpus, ["L1", "L2"])


def test_geco_has_its_14_readers_and_every_sentence_of_two_words_or_more(geco):
    data, corpus, measures = geco
    assert list(measures) == ["L1"] and len(measures["L1"].subjects) == 14
    assert measures["L1"].subjects[:2] == ["pp21", "pp22"] and "pp24" not in measures["L1"].subjects
    with gzip.open(GECO / "pp21-relfix-feats.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    words = defaultdict(list)
    for row in rows:
        words[int(row["sentence_id"])].append(row["word"])
    kept = [k for k, w in sorted(words.items()) if len(w) >= 2 and all(x and len(x.split()) == 1 for x in w)]
    assert [int(n) for n in corpus.names] == kept and len(kept) == 5000
    assert [tuple(words[k]) for k in kept[:50]] == list(corpus.words[:50])


def test_relative_fixation_time_is_the_published_relfix(geco):
    data, corpus, measures = geco
    relfix, zero = relative(measures["L1"].values)
    s = measures["L1"].subjects.index("pp30")
    with gzip.open(GECO / "pp30-relfix-feats.csv.gz", "rt") as f:
        published = defaultdict(list)
        for row in csv.DictReader(f):
            published[row["sentence_id"]].append(row["relFix"])
    checked = 0
    for k, unit in enumerate(corpus.names):
        expected = published[unit]
        if unit == "5284":           # the file's last sentence: relFix 0 although TRT is 1024 ms (their defect)
            assert expected == ["0", "0"] and relfix[k][s].tolist() == [0.0, 1.0]
        elif all(v not in ("", "nan") for v in expected):
            np.testing.assert_allclose(relfix[k][s], np.array(expected, dtype=float), rtol=1e-12)
            checked += 1
        else:
            assert (s, k) in zero and np.isnan(relfix[k][s]).all()
    assert checked > 4500


def test_onestop_saccades_are_the_fixation_pairs_on_words():
    data = eyelink(path=str(ONESTOP), **EYELINK)
    corpus = data.corpus()
    cohorts, report = data.cohorts(corpus, ["L1"])
    cohort = cohorts["L1"]
    assert cohort.subjects == ["l7_1090", "l37_1129"] and len(corpus) == 12 and cohort.keep.all()
    with open(ONESTOP / "fixations.csv") as f:
        rows = list(csv.DictReader(f))
    for s, subject in enumerate(cohort.subjects):
        cells = []
        for k, unit in enumerate(corpus.names):
            sequence = sorted((int(r["CURRENT_FIX_INDEX"]), r["CURRENT_FIX_INTEREST_AREA_ID"]) for r in rows
                              if r["participant_id"] == subject and r["unique_paragraph_id"] == unit)
            n = int(corpus.n_words[k])
            matrix = np.zeros((n, n))
            for (_, a), (_, b) in zip(sequence, sequence[1:]):
                if a != "." and b != ".":
                    matrix[int(a) - 1, int(b) - 1] += 1
            cells.append(matrix[np.tril_indices(n)])
        np.testing.assert_array_equal(cohort.targets[:, s], np.concatenate(cells))
    np.testing.assert_allclose(cohort.mean, cohort.targets.mean(axis=1))
