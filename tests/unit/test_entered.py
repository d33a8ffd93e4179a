"""The comparison's 'What entered' table: each run's counts from its metrics, its left-out entries from its
exclusions.csv, counted once per level, the words of one predictive-power analysis rather than their sum."""
import pandas as pd

from attnhuman import metrics
from attnhuman.comparison.entered import entered_table
from attnhuman.comparison.runs import Run
from attnhuman.humans.cohort import ExclusionReport


def _run(tmp_path, values: dict, report: ExclusionReport) -> Run:
    path = tmp_path / "exclusions.csv"
    report.to_frame().to_csv(path, index=False)
    tags = dict(model="smollm2", size="135m", tuning="instruct", prefix="none", family="smollm2", stage="x", source="hf")
    return Run("id", "smollm2-135m-instruct-none+onestop", tags, {}, values, lambda _: path, lambda _: [])


def test_counts_come_from_metrics_and_reasons_from_exclusions(tmp_path):
    report = ExclusionReport()
    for subject in ("a", "b", "c"):
        report.add("L1", "subject", subject, "no saccade between words in the kept units")
    report.add("L1", "subject", "d", "excluded by configuration")
    report.add("L1", "sentence", "#3", "no fixations of a, b")
    report.add("L1", "fixations", "a", "12 of 90 fixations outside every word", action="ignored")   # not left out
    report.add("L2", "group", "L2", "the data has no subject in group L2")
    for name in ("surprisal", "entropy"):                  # the same words, left out by each analysis
        report.add("L1", "word", "40 words", f"predictive power of {name} for total: the first word of a unit", count=40)
        report.add("L1", "word", "7 words", f"predictive power of {name} for total: no valid reading time", count=7)
    values = {metrics.resemblance("L1"): 13.9, metrics.n_subjects("L1"): 2, metrics.n_sentences("L1"): 11,
              metrics.wi_normalised("L1"): 98.3, metrics.wi_n_units("L1"): 12,
              metrics.pp_dll_cv("surprisal", "total", "L1"): 0.0001, metrics.pp_n_words("surprisal", "total", "L1"): 900,
              metrics.pp_dll_cv("entropy", "total", "L1"): -0.0008, metrics.pp_n_words("entropy", "total", "L1"): 900}
    table = entered_table([_run(tmp_path, values, report)])
    rows = {row.level: row for row in table.itertuples()}
    assert list(table.group.unique()) == ["L1"]
    assert (rows["subject"].entered, rows["subject"].left_out) == (2, 4)
    assert rows["subject"].reasons == "no saccade between words in the kept units (3); excluded by configuration (1)"
    assert (rows["sentence"].entered, rows["sentence"].left_out) == (11, 1)
    assert (rows["unit"].entered, rows["unit"].left_out) == (12, 0)
    assert "fixations" not in rows                          # ignored, not left out
    word = rows["word (surprisal, total)"]
    assert (word.entered, word.left_out) == (900, 47)       # one analysis, not 94
    assert word.reasons == "the first word of a unit (40); no valid reading time (7)"
    assert list(table.columns) == ["run", "group", "level", "entered", "left_out", "reasons"]
    assert isinstance(table, pd.DataFrame) and len(table) == 4
