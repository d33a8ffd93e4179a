"""No silent numbers, no late errors (issue 21, human data): a subject stored twice, an empty subject, a unit sample
that is not a number of units, a missing fixation report, a subject pattern without a group and groups too small to
have a ceiling. Each gives its exact message, before any MLflow run exists, or its exclusion line."""
import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from attnhuman.app.factories import eyelink, word_measures
from attnhuman.app.spec import humans_spec
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.cohort import Exclusion
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohort
from helpers.commands import command, runs
from helpers.config import EYELINK, GECO_COLUMNS, compose_job
from helpers.paths import GECO, ONESTOP, READING_BRAIN

UNITS = 20
ENOUGH = "a group needs 2 or more readers to have a ceiling"


@pytest.fixture(scope="module")
def readers() -> dict[str, pd.DataFrame]:
    """GECO's first 20 sentences of three readers, as published."""
    frames = {}
    for reader in ("pp21", "pp22", "pp23"):
        with gzip.open(GECO / f"{reader}-relfix-feats.csv.gz", "rt") as f:
            frame = pd.read_csv(f, keep_default_na=False, dtype=str)
        frames[reader] = frame[frame.sentence_id.astype(int) < UNITS]
    return frames


def _write(folder, **frames) -> str:
    """One CSV per reader in ``folder``; the glob of data.path."""
    folder.mkdir(exist_ok=True)
    for reader, frame in frames.items():
        frame.to_csv(folder / f"{reader}-relfix-feats.csv", index=False)
    return str(folder / "*-relfix-feats.csv")


def _onestop(folder, ia=None, fixations=None):
    """The OneStop reports in ``folder`` (``ia`` / ``fixations`` frames replace them, ``False`` leaves one out)."""
    folder.mkdir(exist_ok=True)
    for name, frame in (("ia.csv", ia), ("fixations.csv", fixations)):
        if frame is None:
            shutil.copy(ONESTOP / name, folder / name)
        elif frame is not False:
            frame.to_csv(folder / name, index=False)
    return folder


def _read(name) -> pd.DataFrame:
    return pd.read_csv(ONESTOP / name, keep_default_na=False, dtype=str)


def stops(data, groups) -> list[str]:
    """What stops a job reading ``data`` for ``groups`` before its run exists: the preflight's lines, else the error of
    parsing the data (the job reads it before creating its run)."""
    found = data.missing(groups)
    if found:
        return found
    try:
        data.cohorts(data.corpus(), groups)
    except DataError as e:
        return [str(e)]
    return []


def test_a_subject_stored_twice_is_refused_naming_both_subjects_and_files(tmp_path, readers):
    path = _write(tmp_path, pp21=readers["pp21"], pp22=readers["pp22"], pp99=readers["pp21"])
    assert stops(word_measures(path=path, columns=GECO_COLUMNS), ["L1"]) == [
        f"subjects pp21 ({tmp_path / 'pp21-relfix-feats.csv'}) and pp99 ({tmp_path / 'pp99-relfix-feats.csv'}) have "
        f"identical TRT at every word of every unit, {len(readers['pp21'])} rows each: one subject stored twice? "
        "Remove the copy from data.path, or restore that subject's own data."]


def test_an_eyelink_subject_stored_twice_is_refused_in_either_report(tmp_path):
    ia, fixations = _read("ia.csv"), _read("fixations.csv")
    copy = ia[ia.participant_id == "l7_1090"].assign(participant_id="l7_copy")
    folder = _onestop(tmp_path / "ia", ia=pd.concat([ia, copy]))
    assert stops(eyelink(path=str(folder), **EYELINK), ["L1"]) == [
        f"subjects l7_1090 ({folder / 'ia.csv'}) and l7_copy ({folder / 'ia.csv'}) have identical IA_DWELL_TIME at "
        f"every word of every unit, {len(copy)} rows each: one subject stored twice? Remove the copy from data.path, "
        "or restore that subject's own data."]
    slower = copy.assign(IA_DWELL_TIME=(copy.IA_DWELL_TIME.astype(int) + 1).astype(str))   # its own dwell times
    moves = fixations[fixations.participant_id == "l7_1090"].assign(participant_id="l7_copy")
    folder = _onestop(tmp_path / "fixations", ia=pd.concat([ia, slower]), fixations=pd.concat([fixations, moves]))
    assert stops(eyelink(path=str(folder), **EYELINK), ["L1"]) == [
        f"subjects l7_1090 ({folder / 'fixations.csv'}) and l7_copy ({folder / 'fixations.csv'}) have identical "
        f"fixations (unit, order, interest area), {len(moves)} rows each: one subject stored twice? Remove the copy "
        "from the fixation report, or restore that subject's own data."]


def test_a_subject_table_with_a_header_alone_is_an_excluded_subject(tmp_path, readers):
    path = _write(tmp_path, pp21=readers["pp21"], pp22=readers["pp22"], pp23=readers["pp23"].head(0))
    data = word_measures(path=path, columns=GECO_COLUMNS)
    assert stops(data, ["L1"]) == []
    corpus = data.corpus()
    report = data.cohorts(corpus, ["L1"])[1]
    reason = f"{tmp_path / 'pp23-relfix-feats.csv'} has a header and no rows: no reading of this subject"
    assert report.select(level="subject") == [Exclusion("L1", "subject", "pp23", "excluded", reason)]
    assert f"  [L1] subject pp23: excluded: {reason}" in report.format().splitlines()
    assert data.word_measures(corpus, ["L1"])["L1"].subjects == ["pp21", "pp22"]
    alone = word_measures(path=_write(tmp_path / "alone", pp21=readers["pp21"], pp22=readers["pp22"].head(0)),
                          columns=GECO_COLUMNS)
    assert stops(alone, ["L1"]) == [f"group L1 has 1 reader(s) (pp21) in the data (its groups: L1 with 1): {ENOUGH}; "
                                     "give it 2 or more readers."]
    empty = word_measures(path=_write(tmp_path / "empty", pp21=readers["pp21"].head(0)), columns=GECO_COLUMNS)
    assert stops(empty, ["L1"]) == [f"{tmp_path / 'empty' / 'pp21-relfix-feats.csv'}: a header and no rows; there "
                                     "is nothing to read."]


@pytest.mark.parametrize("value", [True, 1.5, "abc", 0, -3, 1])
def test_a_sample_that_is_not_a_number_of_units_of_2_or_more_is_refused_when_the_source_is_built(value):
    with pytest.raises(ConfigError) as refused:
        eyelink(path=str(ONESTOP), **EYELINK, sample=value)
    assert str(refused.value) == (f"data.sample={value!r}: give a whole number of units, 2 or more, or null to read "
                                  "every unit.")


def test_a_sample_larger_than_the_units_is_refused(tmp_path, readers):
    path = _write(tmp_path, pp21=readers["pp21"], pp22=readers["pp22"])
    units = len(word_measures(path=path, columns=GECO_COLUMNS).corpus())
    assert stops(word_measures(path=path, columns=GECO_COLUMNS, sample=units + 1), ["L1"]) == [
        f"data.sample={units + 1}: the data has {units} units to compare (after the exclusions in the report); give at "
        f"most {units}, or null to read every unit."]


def test_a_missing_fixation_report_is_found_by_the_preflight(tmp_path):
    folder = _onestop(tmp_path, fixations=False)
    assert stops(eyelink(path=str(folder), **EYELINK), ["L1"]) == [
        f"{folder / 'fixations.csv'}: no such fixation report; put it there, or set data.fixation_report=null to read "
        "the word measures alone"]


@pytest.mark.parametrize("pattern, message", [
    ("^pp", "has no capture group: put the subject id in parentheses, e.g. '^([^-_.]+)' "
            "(pp21-relfix-feats.csv.gz -> pp21)."),
    ("^(pp", "is not a regular expression (missing ), unterminated subpattern at position 1); give one whose first "
             "group is the subject id, e.g. '^([^-_.]+)' (pp21-relfix-feats.csv.gz -> pp21)."),
])
def test_a_subject_pattern_without_a_group_is_refused_when_the_source_is_built(pattern, message):
    with pytest.raises(ConfigError) as refused:
        word_measures(path=str(GECO / "pp21-relfix-feats.csv.gz"), columns=GECO_COLUMNS, subject_pattern=pattern)
    assert str(refused.value) == f"data.subject_pattern={pattern!r} {message}"


def test_a_group_of_one_reader_or_none_is_refused(tmp_path, readers):
    table = tmp_path / "words.csv"
    pd.concat([readers[r].assign(subject=r, group=g) for r, g in (("pp21", "L1"), ("pp22", "L1"), ("pp23", "L2"))]
              ).to_csv(table, index=False)
    columns = {**GECO_COLUMNS, "subject": "subject", "group": "group"}
    data = word_measures(path=str(table), columns=columns)
    assert stops(data, ["L1", "L2"]) == [f"group L2 has 1 reader(s) (pp23) in the data (its groups: L1 with 2, L2 "
                                          f"with 1): {ENOUGH}; leave it out with analysis.groups=[L1]."]
    assert stops(data, ["L1"]) == []
    geco = word_measures(path=_write(tmp_path / "geco", pp21=readers["pp21"], pp22=readers["pp22"]),
                         columns=GECO_COLUMNS)
    assert stops(geco, ["L2"]) == [f"group L2 has 0 reader(s) in the data (its groups: L1 with 2): {ENOUGH}; leave "
                                    "it out with analysis.groups=[L1]."]
    assert stops(geco, ["L1", "L2"]) == []          # GECO with the default groups: L2 is reported, L1 compared
    group, = geco.cohorts(geco.corpus(), ["L1", "L2"])[1].select(level="group")
    assert group == Exclusion("L2", "group", "L2", "excluded", "the data has no subject in group L2 (groups: ['L1'])")


def test_an_eyelink_group_left_with_one_reader_with_saccades_is_refused(tmp_path):
    fixations = _read("fixations.csv")
    off = fixations.assign(CURRENT_FIX_INTEREST_AREA_ID=np.where(fixations.participant_id == "l37_1129", ".",
                                                                 fixations.CURRENT_FIX_INTEREST_AREA_ID))
    data = eyelink(path=str(_onestop(tmp_path, fixations=off)), **EYELINK)
    assert stops(data, ["L1"]) == [f"group L1: 1 of its 2 readers have a saccade between words in the kept units; "
                                    f"{ENOUGH}: check the fixation report, or leave the group out of analysis.groups."]


def test_reading_brain_groups_too_small_or_unknown_are_refused(corpus):
    left = [f"L1_S{i:02d}" for i in range(1, 53) if i not in (2, 21)]       # L1_S21 has no ROI data in the release

    def missing(*overrides):
        spec = humans_spec(compose_job(f"data.root={READING_BRAIN}", "data.download=false", *overrides))
        return spec.data.missing(list(spec.groups))
    assert missing(f"data.exclude_subjects.L1=[{','.join(left)},L1_S21]") == [
        f"data.exclude_subjects.L1 leaves 1 of the 52 L1 subjects: {ENOUGH}; exclude fewer, or leave L1 out of "
        "analysis.groups."]
    assert missing("analysis.groups=[L1,L3]") == ["analysis.groups names L3: Reading Brain has the groups L1, L2 only; "
                                                  "set analysis.groups=[L1,L2] or one of them."]
    with pytest.raises(DataError) as refused:         # two left, one of them without data: found when parsed
        load_cohort(Release(READING_BRAIN, download=False), corpus, "L1", exclude=left)
    assert str(refused.value) == ("[L1] 1 of its 52 subjects usable (L1_S02): the others are excluded "
                                  f"(data.exclude_subjects) or have no usable data (see the report); {ENOUGH}: exclude "
                                  "fewer subjects, or leave L1 out of analysis.groups.")


def test_simulated_readers_of_a_group_without_parameters_are_refused_by_the_preflight():
    spec = humans_spec(compose_job("data=synthetic", "analysis.groups=[L1,L3]"))
    assert spec.data.missing(list(spec.groups)) == [
        "data.synthetic.groups has no parameters for group(s) ['L3']; defined: ['L1', 'L2']. Set analysis.groups to "
        "some of them, or define the group."]


def _bad_job(case: str, folder, readers, tiny_released) -> tuple[list[str], str]:
    """The overrides of a job with the bad input ``case`` (its files written in ``folder``) and what it stops with."""
    two = {"pp21": readers["pp21"], "pp22": readers["pp22"]}
    tiny, cannot = ["model=gpt2", "size=tiny"], "gpt2-tiny-base-none+geco cannot run:\n  "
    if case == "no fixation report":
        reports = _onestop(folder, fixations=False)
        return ["data=eyelink", f"data.path={reports}", "data.label=OneStop", *tiny], (
            f"gpt2-tiny-base-none+onestop cannot run:\n  {reports / 'fixations.csv'}: no such fixation report; put it "
            "there, or set data.fixation_report=null to read the word measures alone\n")
    if case == "one L1 subject left":
        return [*tiny_released, "data.exclude_subjects.L1=[" + ",".join(f"L1_S{i:02d}" for i in range(1, 52)) + "]"], (
            f"llama-tiny-base-none+released cannot run:\n  data.exclude_subjects.L1 leaves 1 of the 52 L1 subjects: "
            f"{ENOUGH}; exclude fewer, or leave L1 out of analysis.groups.\n")
    if case == "subject stored twice":
        return ["data=geco", f"data.path={_write(folder, **two, pp99=readers['pp21'])}", *tiny], (
            f"{cannot}subjects pp21 ({folder / 'pp21-relfix-feats.csv'}) and pp99 ({folder / 'pp99-relfix-feats.csv'}) "
            f"have identical TRT at every word of every unit, {len(readers['pp21'])} rows each: one subject stored "
            "twice? Remove the copy from data.path, or restore that subject's own data.\n")
    setting, message = {
        "sample true": ("data.sample=true", "\ndata.sample=True: give a whole number of units, 2 or more, or null to "
                                            "read every unit.\n"),
        "sample of 1000": ("data.sample=1000", "gpt2-tiny-base-none+geco+sample1000 cannot run:\n  data.sample=1000: "
                                               "the data has 20 units to compare (after the exclusions in the report); "
                                               "give at most 20, or null to read every unit.\n"),
        "pattern without a group": ("data.subject_pattern='^pp'", "\ndata.subject_pattern='^pp' has no capture group: "
                                                                  "put the subject id in parentheses, e.g. "
                                                                  "'^([^-_.]+)' (pp21-relfix-feats.csv.gz -> pp21).\n"),
        "no L2 reader": ("analysis.groups=[L2]", f"{cannot}group L2 has 0 reader(s) in the data (its groups: L1 with "
                                                 f"2): {ENOUGH}; leave it out with analysis.groups=[L1].\n"),
    }[case]
    return ["data=geco", f"data.path={_write(folder, **two)}", setting, *tiny], message


@pytest.mark.parametrize("case", ["subject stored twice", "sample true", "sample of 1000", "no fixation report",
                                  "pattern without a group", "no L2 reader", "one L1 subject left"])
def test_bad_human_data_stops_a_job_before_any_run(tmp_path, readers, tiny_released, case):
    overrides, message = _bad_job(case, tmp_path / "data", readers, tiny_released)
    result = command(tmp_path, *overrides, check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert message in result.output
    assert runs(tmp_path)[1] == []


def test_a_comparison_without_its_fixation_report_stops_in_one_line(tmp_path):
    folder = _onestop(tmp_path / "data", fixations=False)
    result = command(tmp_path, "data=eyelink", f"data.path={folder}", entry="compare", check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert (f"The comparison cannot run:\n  {folder / 'fixations.csv'}: no such fixation report; put it there, or set "
            "data.fixation_report=null to read the word measures alone\n") in result.output
    assert runs(tmp_path)[1] == []


def test_an_empty_subject_is_in_the_console_and_in_exclusions_csv(tmp_path, readers):
    path = _write(tmp_path / "data", pp21=readers["pp21"], pp22=readers["pp22"], pp23=readers["pp23"].head(0))
    result = command(tmp_path, "data=geco", f"data.path={path}", "model=gpt2", "size=tiny", "analysis.groups=[L1]")
    assert "Left out: L1: 1 subject, 1 subject unit (every entry with its reason: reports/exclusions.csv)" \
        in result.output                                        # the subject unit: pp22 read sentence 9 in 0 ms
    client, [run] = runs(tmp_path)
    assert run.info.status == "FINISHED" and run.data.metrics["wi_n_units_L1"] == UNITS
    exclusions = pd.read_csv(client.download_artifacts(run.info.run_id, "reports/exclusions.csv", str(tmp_path)))
    assert exclusions[exclusions.level == "subject"].to_dict("records") == [
        {"group": "L1", "level": "subject", "item": "pp23", "action": "excluded",
         "reason": f"{tmp_path / 'data' / 'pp23-relfix-feats.csv'} has a header and no rows: no reading of this subject",
         "count": 1}]
    assert run.data.metrics["n_excluded_subject_L1"] == 1
