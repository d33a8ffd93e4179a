"""Reading corpora from tables (data=word_measures, geco, eyelink): damaged copies of the real GECO and OneStop files,
each refused with a message naming file, subject and unit, or left out and reported."""
import gzip

import numpy as np
import pandas as pd
import pytest

from attnhuman.app.factories import eyelink, word_measures
from attnhuman.errors import DataError
from attnhuman.humans.word_table import read_tables, word_reading
from helpers.config import EYELINK, GECO_COLUMNS
from helpers.paths import DATA

GECO, ONESTOP = DATA / "geco_en", DATA / "onestop_sample"


def _geco(reader: str, units: int = 40) -> pd.DataFrame:
    with gzip.open(GECO / f"{reader}-relfix-feats.csv.gz", "rt") as f:
        frame = pd.read_csv(f, keep_default_na=False, dtype=str)
    return frame[frame.sentence_id.astype(int) < units]


@pytest.fixture
def tables(tmp_path):
    """The first 40 GECO sentences of two readers, one CSV each, and a function that writes them (damaged)."""
    frames = {r: _geco(r) for r in ("pp21", "pp22")}

    def write(**changed):
        for reader, frame in {**frames, **changed}.items():
            frame.to_csv(tmp_path / f"{reader}-relfix-feats.csv", index=False)
        return word_measures(path=str(tmp_path / "*-relfix-feats.csv"), columns=GECO_COLUMNS)
    return frames, write


def _corpus_and_report(data):
    corpus = data.corpus()
    return corpus, data.cohorts(corpus, ["L1"])[1]


def test_an_intact_copy_reads_with_its_short_units_reported(tables):
    frames, write = tables
    corpus, report = _corpus_and_report(write())
    short = {e.item for e in report.select(level="unit")}
    counts = frames["pp21"].groupby("sentence_id").size()
    assert short == {u for u, n in counts.items() if n < 2} and short         # GECO has one-word sentences
    assert len(corpus) == (counts >= 2).sum()


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.assign(word=np.where((f.sentence_id == "3") & (f.word_id == "2"), "dog", f.word)),
     r"-relfix-feats.csv: subject pp2[12], unit 3 has \d+ words, word 2 'dog'; subject pp2[12] .* has \d+ words, word 2"),
    (lambda f: f.assign(TRT=np.where(f.index == 7, "", f.TRT)), r"line 9: subject pp22, unit 0, word 7 .*TRT ''"),
    (lambda f: f.assign(TRT=np.where(f.index == 7, "-12", f.TRT)), r"line 9: subject pp22, unit 0, word 7 .*TRT '-12'.*>= 0"),
    (lambda f: pd.concat([f, f.iloc[[5]]]), r"subject pp22, unit 0, word 5 appears 2 times"),
    (lambda f: f[~((f.sentence_id == "4") & (f.word_id == "1"))], r"subject pp22, unit 4: word indices jump from 0 to 2"),
    (lambda f: f.drop(columns="TRT"), r"pp22-relfix-feats.csv: no column TRT \(data.columns.measure\)"),
])
def test_a_damaged_table_stops_naming_file_subject_and_unit(tables, damage, message):
    frames, write = tables
    with pytest.raises(DataError, match=message):
        write(pp22=damage(frames["pp22"])).corpus()


def test_units_a_subject_did_not_read_are_reported_and_the_others_mean_used(tables):
    frames, write = tables
    data = write(pp22=frames["pp22"][frames["pp22"].sentence_id != "5"])
    corpus, report = _corpus_and_report(data)
    [entry] = report.select(level="subject_units")
    assert entry.item == "pp22" and "did not read 1 of" in entry.reason and "(5)" in entry.reason
    k = corpus.names.index("5")
    values = data.word_measures(corpus, ["L1"])["L1"].values[k]
    assert np.isnan(values[1]).all() and np.isfinite(values[0]).all()


def test_geco_keeps_the_word_null_and_reports_empty_words():
    data = word_measures(path=str(GECO / "pp2[12]-relfix-feats.csv.gz"), columns=GECO_COLUMNS)
    corpus, report = _corpus_and_report(data)
    assert "null" in corpus.words[corpus.names.index("1597")]
    reasons = {e.item: e.reason for e in report.select(level="unit")}
    assert "word 6 is ''" in reasons["2252"] and "0 word" not in reasons["2252"]
    assert reasons["3554"].startswith("1 word(s)")


@pytest.fixture
def onestop(tmp_path):
    ia = pd.read_csv(ONESTOP / "ia.csv", keep_default_na=False, dtype=str)
    fixations = pd.read_csv(ONESTOP / "fixations.csv", keep_default_na=False, dtype=str)

    def write(ia=ia, fixations=fixations):
        ia.to_csv(tmp_path / "ia.csv", index=False)
        fixations.to_csv(tmp_path / "fixations.csv", index=False)
        data = eyelink(path=str(tmp_path), **EYELINK)
        corpus = data.corpus()
        return corpus, *data.cohorts(corpus, ["L1"])
    return ia, fixations, write


def test_fixations_outside_every_word_are_reported(onestop):
    ia, fixations, write = onestop
    fixations = fixations.assign(CURRENT_FIX_INTEREST_AREA_ID=np.where(fixations.index % 50 == 0, ".",
                                                                       fixations.CURRENT_FIX_INTEREST_AREA_ID))
    corpus, cohorts, report = write(fixations=fixations)
    entries = {e.item: e.reason for e in report.select(level="fixations")}
    outside = fixations[fixations.CURRENT_FIX_INTEREST_AREA_ID == "."].groupby("participant_id").size()
    for subject, n in outside.items():
        assert entries[subject].startswith(f"{n} of {(fixations.participant_id == subject).sum()} fixations outside")


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.assign(CURRENT_FIX_INTEREST_AREA_ID=np.where(f.index == 10, "999", f.CURRENT_FIX_INTEREST_AREA_ID)),
     r"fixations.csv, line 12: subject l37_1129, unit .*: interest area 999 is beyond the unit's \d+ words"),
    (lambda f: f.assign(CURRENT_FIX_INTEREST_AREA_ID=np.where(f.index == 10, "left", f.CURRENT_FIX_INTEREST_AREA_ID)),
     r"fixations.csv, line 12: .*interest area 'left' is neither a word number nor '.'"),
    (lambda f: f.assign(unique_paragraph_id=np.where(f.index == 10, "no_such_paragraph", f.unique_paragraph_id)),
     r"subject l37_1129 has fixations in unit no_such_paragraph, but the interest-area report has no words"),
])
def test_a_damaged_fixation_report_stops_naming_the_line(onestop, damage, message):
    ia, fixations, write = onestop
    with pytest.raises(DataError, match=message):
        write(fixations=damage(fixations))


def test_an_interest_area_report_without_a_column_names_it(onestop):
    ia, fixations, write = onestop
    with pytest.raises(DataError, match=r"ia.csv: no column IA_DWELL_TIME \(data.columns.measure\)"):
        write(ia=ia.drop(columns="IA_DWELL_TIME"))


def test_a_unit_sample_is_a_seeded_subset_of_the_whole_reported_and_fingerprinted(tables):
    frames, write = tables
    whole = write()
    columns = dict(whole.columns)
    full = whole.reading

    def sampled(n, seed=0):
        return word_measures(path=str(whole.tables[0].parent / "*-relfix-feats.csv"), columns=columns, sample=n,
                             sample_seed=seed)
    part = sampled(10)
    names = part.corpus().names
    assert len(names) == 10 and list(names) == sorted(names, key=list(full.corpus.names).index)   # corpus order
    for k, name in enumerate(names):                        # each sampled unit is the whole corpus's unit, unchanged
        j = list(full.corpus.names).index(name)
        assert part.corpus().articles[0][k] == full.corpus.articles[0][j]
        np.testing.assert_array_equal(part.reading.measures["L1"].values[k], full.measures["L1"].values[j])
    assert sampled(10).corpus().names == names and sampled(10, seed=1).corpus().names != names
    entry, = part.reading.report.select(level="sample")
    assert entry.item == f"{len(full.corpus) - 10} of {len(full.corpus)} units" and "data.sample=10" in entry.reason
    assert len({whole.fingerprint(), part.fingerprint(), sampled(10, seed=1).fingerprint()}) == 3
    assert sampled(len(full.corpus)).corpus().names == full.corpus.names      # as many as there are: every unit


def test_a_sample_of_eyelink_units_keeps_their_saccades():
    full = eyelink(path=str(ONESTOP), **EYELINK)
    part = eyelink(path=str(ONESTOP), **EYELINK, sample=5, sample_seed=3)
    whole, sampled = full.corpus(), part.corpus()
    cohort, report = part.cohorts(sampled, ["L1"])
    blocks = np.split(full.cohorts(whole, ["L1"])[0]["L1"].targets,       # each unit's lower-triangle cells
                      np.cumsum([n * (n + 1) // 2 for n in whole.n_words])[:-1])
    kept = [blocks[list(whole.names).index(name)] for name in sampled.names]
    assert len(sampled) == 5 and len(report.select(level="sample")) == 1
    np.testing.assert_array_equal(cohort["L1"].targets, np.concatenate(kept))


def test_word_index_null_numbers_each_subject_s_words_in_file_order(tmp_path):
    """Punctuation rows that repeat the next word's index (some published per-reader tables): with
    data.columns.word_index=null each row is a word, in file order; with the index column they are duplicates."""
    rows = [("s1", "u1", 1, "The", 200), ("s1", "u1", 2, "cat", 250), ("s1", "u1", 3, ",", 0), ("s1", "u1", 3, "sat", 300),
            ("s1", "u2", 1, "It", 180), ("s1", "u2", 2, "ran", 220)]
    table = tmp_path / "s1.csv"
    pd.DataFrame(rows, columns=["subject", "unit", "index", "word", "rt"]).to_csv(table, index=False)
    columns = {"subject": "subject", "unit": "unit", "word_index": None, "word": "word", "measure": "rt"}
    frame = read_tables([table], columns)
    assert frame.word_index.tolist() == ["0", "1", "2", "3", "0", "1"]
    reading = word_reading(frame, "rt")
    assert reading.corpus.sentences == ("The cat , sat", "It ran")
    np.testing.assert_array_equal(reading.measures["L1"].values[0], [[200, 250, 0, 300]])
    with pytest.raises(DataError, match=r"subject s1, unit u1, word 3 appears 2 times"):
        word_reading(read_tables([table], {**columns, "word_index": "index"}), "rt")
