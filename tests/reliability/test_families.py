"""The catalogue's families: one damage per case, built in the test from ../shared/data, each with the exact error
or exclusion line it must give (test_bad_inputs.py holds the cases that need a whole job or a model)."""
import numpy as np
import pytest

from attnhuman.analysis.options import ScoreOptions
from attnhuman.app.factories import released_path
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.store import load_attention, reference_rows
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.cohort import ExclusionReport
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohort
from helpers.config import load_synthetic
from helpers.paths import LLAMA30, READING_BRAIN
from helpers.references import read_pickle, write_pickle

# -- attention files: each damage of a packed or native file, and its message --------------------------------------

def _packed(tmp_path, corpus, llama30, damage):
    arrays = {"attention": llama30.attention[:2, :3].astype(np.float32).copy(), "n_words": corpus.n_words.copy(),
              "sentences_per_article": corpus.sentences_per_article.copy()}
    damage(arrays, corpus)
    path = tmp_path / "attention.npz"
    np.savez(path, **arrays)
    return path


def _set(key, value):
    def damage(arrays, corpus):
        arrays[key] = value(arrays[key], corpus) if callable(value) else value
    return damage


def _cell(value, sentence=40, offset=3):
    def damage(arrays, corpus):
        arrays["attention"][1, 2, corpus.offsets[sentence] + offset] = value
    return damage


def _moved_sentence(arrays, corpus):
    spa = arrays["sentences_per_article"].copy()
    spa[0], spa[1] = spa[0] - 1, spa[1] + 1          # same total, one sentence in the wrong article
    arrays["sentences_per_article"] = spa


ATTENTION = {
    "inf weight": (_cell(np.inf), r"layer 1 has non-finite \(NaN or inf\) values, first in sentence #40"),
    "weight above 1": (_cell(1.5), r"layer 1 has rows summing to more than 1 \(max 1\.\d+\).*sentence #40"),
    "tiny negative weight": (_cell(-1e-4, sentence=147), r"layer 1 has negative weights, first in sentence #147"),
    "constant non-zero": (_set("attention", lambda a, c: np.full_like(a, 0.01)),
                          r"every weight of every layer and head is 0.01: constant attention"),
    "two-dimensional": (_set("attention", lambda a, c: a[0]), r"'attention' has shape \(3, 8953\), expected "
                                                              r"\(n_layers, n_heads, n_cells\)"),
    "cells cut off": (_set("attention", lambda a, c: a[:, :, :-10]), r"has 8943 cells but its n_words imply 8953"),
    "article totals": (_set("sentences_per_article", lambda s, c: s[:-1]),
                       r"sentences_per_article sums to 118, n_words lists 148 sentences"),
    "sentence in another article": (_moved_sentence, r"\[30, 32, 28, 28, 30\] sentences per article, the corpus has "
                                                     r"\[31, 31, 28, 28, 30\]"),
    "not a zip file": (None, r"cannot be read as a packed attention .npz .*truncated or corrupt"),
}


@pytest.mark.parametrize("case", list(ATTENTION))
def test_damaged_attention_file(tmp_path, corpus, llama30, case):
    damage, message = ATTENTION[case]
    if damage is None:
        path = tmp_path / "attention.npz"
        path.write_bytes(b"\x00" * 4096)
    else:
        path = _packed(tmp_path, corpus, llama30, damage)
    with pytest.raises(DataError, match=message):
        load_attention(path, corpus)


def test_native_folder_damage(tmp_path, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no '\*layer<k>.npy' files \(native layout: one file per layer\)"):
        load_attention(empty, corpus)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    np.save(wrong / "rb_p1_layer0.npy", np.zeros((5, 31, 2, 10, 10), np.float32))
    with pytest.raises(DataError, match=r"rb_p1_layer0.npy: shape \(5, 31, 2, 10, 10\) does not fit the native layout"):
        load_attention(wrong, corpus)
    extra = tmp_path / "extra"
    extra.mkdir()
    layer = np.load(LLAMA30 / "native" / "rb_p1_layer0.npy")
    layer[2, 29] = 0.01                                   # article 2 has 28 sentences: index 29 is not in the corpus
    np.save(extra / "rb_p1_layer0.npy", layer)
    with pytest.raises(DataError, match=r"non-zero attention at article 2, sentence 29, which is not in the corpus"):
        load_attention(extra, corpus)


def test_reference_layer_out_of_range(corpus, llama30):
    with pytest.raises(DataError, match=r"layer 60: reference has 60 layers \(0..59\)"):
        reference_rows(llama30, 60, corpus)


# -- Reading Brain files: damaged group means and per-subject counts ------------------------------------------------

def _counts(corpus, n_subjects=3, seed=0):
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0, *corpus.sentences_per_article[:-1]])
    return [[[rng.poisson(0.3, size=(n, n)).astype(float) for n in corpus.n_words[a0:a0 + na]]
             for a0, na in zip(starts, corpus.sentences_per_article)] for _ in range(n_subjects)]


def _mean(edit):
    def damage(folder, corpus):
        data = read_pickle(READING_BRAIN / "mean_saccade_num_p1.pkl")
        write_pickle(folder / "mean_saccade_num_p1.pkl", edit(data))
    return damage


def _subject(edit):
    def damage(folder, corpus):
        counts = _counts(corpus)
        counts[1] = edit(counts[1])
        write_pickle(folder / "saccade_num_p1.pkl", counts)
    return damage


def _bytes(content):
    def damage(folder, corpus):
        (folder / "mean_saccade_num_p1.pkl").unlink()
        (folder / "mean_saccade_num_p1.pkl").write_bytes(content)
    return damage


def _replace(article, sentence, value):
    def edit(data):
        data[article][sentence] = value
        return data
    return edit


def _scaled(article, sentence, cell, value):
    def edit(data):
        matrix = np.array(data[article][sentence], dtype=float)
        matrix[cell] = value
        data[article][sentence] = matrix
        return data
    return edit


ERRORS = {
    "mean: a dict, not articles": (_mean(lambda d: {"articles": d}), r"mean_saccade_num_p1.pkl: expected 5 articles "
                                                                      r"with \[31, 31, 28, 28, 30\] sentences, found dict"),
    "mean: one sentence dropped": (_mean(lambda d: [d[0], d[1][:-1], *d[2:]]), r"found \[31, 30, 28, 28, 30\]"),
    "mean: empty file": (_bytes(b""), r"mean_saccade_num_p1.pkl: cannot be read as a Reading Brain pickle"),
    "mean: text instead of a pickle": (_bytes(b"article,sentence,row,col\n0,0,1,0\n"),
                                       r"mean_saccade_num_p1.pkl: cannot be read as a Reading Brain pickle"),
    "mean: missing": (lambda folder, corpus: (folder / "mean_saccade_num_p1.pkl").unlink(),
                      r"Reading Brain file 'mean_saccade_num_p1.pkl' is missing from"),
    "mean: count of 250": (_mean(_scaled(4, 29, (3, 2), 250.0)), r"sentence #147 \(article 4, sentence 29\): cell "
                                                                 r"\(row 3, column 2\) is 250.0; saccade counts"),
    "mean: -inf": (_mean(_scaled(2, 0, (0, 0), -np.inf)), r"sentence #62 \(article 2, sentence 0\): cell "
                                                         r"\(row 0, column 0\) is -inf"),
    "counts: 150 saccades": (_subject(lambda s: _scaled(3, 1, (4, 4), 150.0)(s)),
                             r"saccade_num_p1.pkl, subject L1_S02, sentence #91 \(article 3, sentence 1\): cell "
                             r"\(row 4, column 4\) is 150.0"),
    "counts: inf": (_subject(lambda s: _scaled(0, 0, (1, 1), np.inf)(s)),
                                           r"subject L1_S02, sentence #0 \(article 0, sentence 0\): cell \(row 1, column 1\) is inf;"),
    "counts: no subjects": (lambda folder, corpus: write_pickle(folder / "saccade_num_p1.pkl", []),
                            r"\[L1\] the per-subject counts file\(s\) \(counts\) hold no subjects"),
    "counts: every subject empty": (lambda folder, corpus: write_pickle(folder / "saccade_num_p1.pkl", [[], []]),
                                    r"\[L1\] 0 of its 2 subjects usable \(none\): the others are excluded "
                                    r"\(data.exclude_subjects\) or have no usable data"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_damaged_release_file_is_refused(release_copy, corpus, case):
    damage, message = ERRORS[case]
    damage(release_copy, corpus)
    with pytest.raises(DataError, match=message):
        load_cohort(Release(release_copy, download=False), corpus, "L1")


REPORTED = {
    "mean: 3x3 for a 7-word sentence": (_mean(_replace(0, 0, np.zeros((3, 3)))), "sentence", "#0 (article 0, sentence 0)",
                                        "the text has 7 words, the group mean is 3x3"),
    "mean: text in a cell": (_mean(_replace(1, 4, [["a", "b"], ["c", "d"]])), "sentence", "#35 (article 1, sentence 4)",
                             "the group mean (mean_saccade_num_p1.pkl) is not a square numeric matrix"),
    "mean: one NaN cell": (_mean(_scaled(2, 3, (1, 0), np.nan)), "sentence", "#65 (article 2, sentence 3)",
                           "the group mean (mean_saccade_num_p1.pkl) has NaN values"),
    "counts: a 3x3 matrix": (_subject(_replace(0, 2, np.zeros((3, 3)))), "sentence", "#2 (article 0, sentence 2)",
                             "the text has 11 words, 1 subjects (first L1_S02) have 3x3 matrices"),
    "counts: a ragged matrix": (_subject(_replace(0, 2, [[0.0], [0.0, 1.0]])), "region", "L1_S02 counts",
                                "1 of 148 sentence matrices are not square numeric arrays (first: #2 (article 0, "
                                "sentence 2)); those matrices are ignored"),
    "counts: four articles": (_subject(lambda s: s[:4]), "region", "L1_S02 counts", None),
    "counts: no saccade at all": (_subject(lambda s: [[np.zeros_like(m) for m in a] for a in s]), "subject", "L1_S02",
                                  "the same value in every kept cell (no saccade transitions): R2 is undefined"),
    "counts: an empty subject": (_subject(lambda s: []), "subject", "L1_S02",
                                 "no usable matrix in any file (empty subject)"),
}


@pytest.mark.parametrize("case", list(REPORTED))
def test_damaged_release_file_is_reported(release_copy, corpus, case):
    """Damage confined to a sentence, region or subject leaves it out with its reason in the report."""
    damage, kind, item, reason = REPORTED[case]
    damage(release_copy, corpus)
    report = load_cohorts_report(release_copy, corpus)
    found = {e.item: e.reason for e in report.select("L1", kind)}
    assert item in found, found
    if reason is None:
        assert found[item].startswith("L1_S02 counts: expected 5 articles") and "found [31, 31, 28, 28]" in found[item]
    else:
        assert found[item] == reason


def load_cohorts_report(folder, corpus):
    report = ExclusionReport()
    load_cohort(Release(folder, download=False), corpus, "L1", report=report)
    return report


def test_subject_settings(release, corpus):
    with pytest.raises(DataError, match=r"unknown group 'L3': choose from \['L1', 'L2'\]"):
        load_cohort(release, corpus, "L3")
    with pytest.raises(DataError, match=r"data.subjects='all': choose auto, counts or proxy"):
        load_cohort(release, corpus, "L1", subjects="all")


# -- settings: every bad option names its key and the choices --------------------------------------------------------

OPTIONS = {
    "score": ({"score": "r2"}, r"analysis.score='r2': choose one of \['insample', 'cv'\]"),
    "predictors": ({"predictors": "all"}, r"analysis.predictors='all': choose one of"),
    "ceiling": ({"ceiling": "max"}, r"analysis.ceiling='max': choose one of"),
    "cv unit": ({"cv": {"unit": "word"}}, r"analysis.cv.unit='word': choose one of"),
    "one fold": ({"cv": {"folds": 1}}, r"analysis.cv.folds=1: need at least 2 folds"),
    "no components": ({"n_components": 0}, r"analysis.n_components=0: choose 1 to the number of heads"),
    "no penalties": ({"ridge": {"alphas": []}}, r"analysis.ridge.alphas=\[\]: give one or more positive penalties"),
    "negative penalty": ({"ridge": {"alphas": [1.0, -1.0]}}, r"analysis.ridge.alphas=\[1.0, -1.0\]"),
    "no splits": ({"split_half": {"n_splits": 0}}, r"analysis.split_half.n_splits=0: need at least 1"),
    "negative permutations": ({"permutation": {"n": -5}}, r"analysis.permutation.n=-5: 0 \(off\) or a positive count"),
    "alpha of 1.5": ({"permutation": {"alpha": 1.5}}, r"analysis.permutation.alpha=1.5: choose a level in \(0, 1\)"),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_bad_score_option(case):
    mapping, message = OPTIONS[case]
    with pytest.raises(ConfigError, match=message):
        ScoreOptions.from_mapping(mapping)


def test_released_source_settings():
    spec = ModelSpec("llama", "30b", "base", "llama", "pretrained", 30, 60, 52, 6656, None)
    with pytest.raises(DataError, match=r"source=released needs source.path .* or source.root"):
        released_path(None, None, spec, {"name": "none", "released_file": "packed_plain.npz"})
    with pytest.raises(DataError, match=r"no released attention exists for prefix=noise; give source.path"):
        released_path(None, str(LLAMA30.parent), spec, {"name": "noise", "released_file": None})


SIMULATOR = {
    "no subjects": ({"synthetic.groups.L1.n_subjects": 0}, r"groups.L1.n_subjects=0: must be a whole number >= 2"),
    "one subject": ({"synthetic.groups.L1.n_subjects": 1}, r"groups.L1.n_subjects=1: must be a whole number >= 2 \(a "
                                                           r"group needs 2 or more readers to have a ceiling\)"),
    "negative spread": ({"synthetic.groups.L1.subject_sd": -1.0}, r"groups.L1.subject_sd=-1.0: a standard deviation"),
    "never leaves a word": ({"synthetic.groups.L1.refixation": 1.0}, r"groups.L1.refixation=1: the reader would never"),
    "no target weight": ({f"synthetic.groups.L1.targets.{c}": 0.0 for c in ("start", "previous", "self",
                                                                             "difficulty", "uniform")},
                        r"groups.L1.targets=.*mixture weights must be >= 0 with a positive sum"),
    "reference weight 2": ({"synthetic.reference_weight": 2.0}, r"data.synthetic.reference_weight=2.0"),
    "unknown difficulty key": ({"synthetic.difficulty.frequency": 1.0}, r"data.synthetic.difficulty: unknown key\(s\) "
                                                                        r"\['frequency'\]"),
}


@pytest.mark.parametrize("case", list(SIMULATOR))
def test_bad_simulator_setting(case):
    overrides, message = SIMULATOR[case]
    with pytest.raises(DataError, match=message):
        load_synthetic(("L1",), corpus="demo", **overrides)
