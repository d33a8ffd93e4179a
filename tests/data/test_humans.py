"""Reading Brain importer and proxy cohort (docs/method.md, "Human data and the proxy cohort") on the real data."""
import logging

import numpy as np
import pytest

from attnhuman.app.job import load_humans
from attnhuman.app.spec import humans_spec
from attnhuman.errors import DataError
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohort, load_cohorts
from helpers.config import compose_job
from helpers.paths import READING_BRAIN
from helpers.references import read_pickle, reference_cohort, write_pickle


def test_corpus_matches_release(corpus):
    assert len(corpus) == 148
    assert list(corpus.sentences_per_article) == [31, 31, 28, 28, 30]
    assert corpus.words[0] == ("Could", "humans", "live", "on", "Mars", "some", "day?")
    assert corpus.n_cells == int(sum(n * (n + 1) // 2 for n in corpus.n_words)) == 8953
    assert corpus.label(77) == "#77 (article 2, sentence 15)"



def test_counts_and_every_exclusion_with_reason(cohorts):
    groups, report = cohorts
    assert (len(groups["L1"].subjects), groups["L1"].n_sentences) == (46, 147)
    assert (len(groups["L2"].subjects), groups["L2"].n_sentences) == (54, 146)
    excluded = {(e.group, e.level, e.item): e.reason for e in report.entries if e.action == "excluded"}
    assert excluded == {
        ("L1", "subject", "L1_S01"): "excluded by configuration (data.exclude_subjects)",
        **{("L1", "subject", f"L1_S{i}"): "no usable matrix in any file (empty subject)"
           for i in (21, 48, 50, 51, 52)},
        ("L1", "sentence", "#77 (article 2, sentence 15)"): "the text has 13 words, the group mean is 10x10",
        ("L2", "subject", "L2_S42"): "no usable matrix in any file (empty subject)",
        ("L2", "sentence", "#20 (article 0, sentence 20)"):
            "the text has 10 words, 54 subjects (first L2_S01) have 12x12 matrices",
        ("L2", "sentence", "#77 (article 2, sentence 15)"): "the text has 13 words, the group mean is 10x10",
    }
    ignored = {(e.group, e.item) for e in report.entries if e.action == "ignored"}
    assert {("L1", "L1_S07 angular"), ("L1", "L1_S07 anterior"), ("L1", "L1_S32 anterior"),
            ("L2", "L2_S42 middle")} <= ignored
    frame = report.to_frame()
    assert list(frame.columns) == ["group", "level", "item", "action", "reason", "count"] and len(frame) == len(report.entries)



@pytest.mark.parametrize("group,sfx,exclude,dropped", [("L1", "p1", {0}, {77}), ("L2", "p2", set(), {20, 77})])
def test_proxy_cohort_matches_independent_computation(cohorts, group, sfx, exclude, dropped):
    cohort = cohorts[0][group]
    kept = [k for k in range(148) if k not in dropped]
    targets, mean = reference_cohort(group, sfx, exclude, kept)
    np.testing.assert_array_equal(cohort.targets, targets)
    np.testing.assert_allclose(cohort.mean, mean, rtol=0, atol=0)
    assert np.flatnonzero(~cohort.keep).tolist() == sorted(dropped)



def test_true_count_files_replace_the_proxy(release_copy, corpus):
    """A planted per-subject count file is used as is (steps 3-5 still apply)."""
    rng = np.random.default_rng(0)
    counts = []
    for s in range(4):
        subject = [[rng.poisson(0.3, size=(n, n)).astype(float) for n in corpus.n_words[a0:a0 + na]]
                   for a0, na in zip(np.cumsum([0, *corpus.sentences_per_article[:-1]]), corpus.sentences_per_article)]
        counts.append(subject)
    counts[1] = []                                   # an empty subject
    counts[2][0][3][1, 0] = np.nan                   # NaN counts as 0
    write_pickle(release_copy / "saccade_num_p1.pkl", counts)
    cohort, report = load_cohorts(Release(release_copy, download=False), corpus, ("L1",))
    cohort = cohort["L1"]
    assert cohort.subject_data == "counts" and cohort.subjects == ["L1_S01", "L1_S03", "L1_S04"]
    assert [e.reason for e in report.select("L1", "subject")] == ["no usable matrix in any file (empty subject)"]
    kept = np.flatnonzero(cohort.keep)
    expected = np.column_stack([np.concatenate([np.nan_to_num(
        [m for a in counts[s] for m in a][k])[np.tril_indices(corpus.n_words[k])] for k in kept]) for s in (0, 2, 3)])
    np.testing.assert_array_equal(cohort.targets, expected)
    with pytest.raises(DataError, match=r"saccade_num_p2.pkl' is missing .*not part of the public release"):
        load_cohort(Release(release_copy, download=False), corpus, "L2", subjects="counts")



def test_ragged_and_nan_group_mean(release_copy, corpus):
    mean = read_pickle(READING_BRAIN / "mean_saccade_num_p2.pkl")
    mean[1][2] = [[0.1, 0.2], [0.3]]                 # ragged
    mean[3][0] = np.full_like(mean[3][0], np.nan)     # NaN
    write_pickle(release_copy / "mean_saccade_num_p2.pkl", mean)
    report_items = {e.item: e.reason for e in load_cohorts(Release(release_copy, download=False), corpus, ("L2",))[1]
                    .select("L2", "sentence")}
    assert report_items[corpus.label(33)] == "the group mean (mean_saccade_num_p2.pkl) is not a square numeric matrix"
    assert report_items[corpus.label(90)] == "the group mean (mean_saccade_num_p2.pkl) has NaN values"



def test_truncated_pickle_names_the_file(release_copy, corpus):
    target = release_copy / "mean_saccade_num_p1.pkl"
    data = target.read_bytes()
    target.unlink()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"mean_saccade_num_p1.pkl: cannot be read .*truncated"):
        load_cohort(Release(release_copy, download=False), corpus, "L1")



def test_pickle_that_runs_code_is_refused(release_copy, corpus):
    import os
    write_pickle(release_copy / "mean_saccade_num_p1.pkl", os.system)
    with pytest.raises(DataError, match=r"refusing to load global 'posix.system'"):
        load_cohort(Release(release_copy, download=False), corpus, "L1")



def test_layout_that_does_not_fit_the_corpus(release_copy, corpus):
    write_pickle(release_copy / "mean_saccade_num_p1.pkl", read_pickle(READING_BRAIN / "mean_saccade_num_p1.pkl")[:4])
    with pytest.raises(DataError, match=r"expected 5 articles with \[31, 31, 28, 28, 30\] sentences, found \[31, 31, 28, 28\]"):
        load_cohort(Release(release_copy, download=False), corpus, "L1")



def test_unknown_excluded_subject(release, corpus):
    with pytest.raises(DataError, match=r"L1_S99.*do not exist; L1 subjects are L1_S01..L1_S52"):
        load_cohort(release, corpus, "L1", exclude=["L1_S99"])




def test_parsed_humans_are_cached_by_contents_and_settings(tmp_path, release_copy, caplog):
    """A second job reads the parsed cohorts from the cache, identical; other file contents or other settings are
    parsed again, never served from another entry."""
    args = [f"data.root={release_copy}", "data.download=false", f"paths.cache={tmp_path}/cache", "analysis.groups=[L2]"]
    first = load_humans(humans_spec(compose_job(*args)))
    with caplog.at_level(logging.INFO):
        again = load_humans(humans_spec(compose_job(*args)))
    assert "Human data from the cache" in caplog.text
    for cohort, cached in ((first.cohorts["L2"], again.cohorts["L2"]), (first.fmri["L2"]["middle"],
                                                                         again.fmri["L2"]["middle"])):
        assert cached.subjects == cohort.subjects and cached.subject_data == cohort.subject_data
        for name in ("keep", "cell_mask", "targets", "mean"):
            np.testing.assert_array_equal(getattr(cached, name), getattr(cohort, name))
    assert again.report == first.report and again.tags == first.tags == {"data_modified": "none"}
    mean = read_pickle(READING_BRAIN / "mean_saccade_num_p2.pkl")
    mean[0][0] = np.full_like(np.asarray(mean[0][0], dtype=float), np.nan)
    write_pickle(release_copy / "mean_saccade_num_p2.pkl", mean)
    changed = load_humans(humans_spec(compose_job(*args)))
    assert changed.tags == {"data_modified": "mean_saccade_num_p2.pkl"} and not changed.cohorts["L2"].keep[0]
    excluded = load_humans(humans_spec(compose_job(*args, "data.exclude_subjects.L2=[L2_S03]")))
    assert "L2_S03" not in excluded.cohorts["L2"].subjects and "L2_S03" in first.cohorts["L2"].subjects
    assert len(list((tmp_path / "cache" / "humans").glob("*.npz"))) == 3
