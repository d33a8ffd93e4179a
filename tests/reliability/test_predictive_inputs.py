"""Bad inputs of predictive power (docs/method.md, "Reading times from model predictions"), each refused in one line
before any MLflow run exists: predictors a source cannot give, settings out of range, a context a source cannot read,
a missing imported table, more folds than units, reading-measure columns that are absent or not numbers."""
import re
import shutil

import pandas as pd
import pytest

from attnhuman.app.spec import job_spec
from attnhuman.errors import ConfigError
from helpers.commands import command, runs
from helpers.config import compose_job
from helpers.paths import GECO, LLAMA30, ONESTOP, READING_BRAIN

RELEASED = ("source=released", "model=llama", "size=30b", f"source.path={LLAMA30 / 'packed_plain.npz'}",
            f"data.root={READING_BRAIN}")


@pytest.mark.parametrize("overrides, message", [
    (("predictive.predictors=[surprisal]",),
     "predictive.predictors=[surprisal]: source=released gives no surprisal (released attention has no "
     "log-probabilities); it gives attention_entropy. Choose among those, or a source that runs the model "
     "(source=hf), or predictive.predictors=auto."),
    (("predictive.predictors=[surprise]",),
     "predictive.predictors=['surprise']: name each once, of surprisal, entropy, lens, attention_entropy (or auto: "
     "what the source gives of surprisal and entropy)."),
    (("predictive.target=median",), "predictive.target='median': choose one of mean, subject."),
    (("predictive.folds=1",), "predictive.folds=1: 2 or more (units are dealt to folds in turn)."),
    (("predictive.spillover=-1",), "predictive.spillover=-1: a whole number >= 0."),
    (("predictive.min_ms=300", "predictive.max_ms=200"), "predictive.min_ms=300, max_ms=200: choose 0 <= min_ms < "
                                                         "max_ms."),
    (("context=text",), "context=text: source=released gives attention, no word predictions to read in context; leave "
                        "context=unit."),
    (("context.name=story",), None),
])
def test_predictive_settings_are_refused_when_the_spec_is_built(overrides, message):
    with pytest.raises(ConfigError) as refused:
        job_spec(compose_job(*RELEASED, *overrides))
    if message is not None:
        assert str(refused.value) == message


def test_a_context_that_is_neither_unit_nor_text_is_refused_for_a_model():
    with pytest.raises(ConfigError, match=re.escape("context='story': choose unit (each unit read alone) or text")):
        job_spec(compose_job("model=gpt2", "size=tiny", "context.name=story"))


def test_a_released_job_asked_for_surprisal_leaves_no_run(tmp_path):
    result = command(tmp_path, *RELEASED, "predictive.predictors=[surprisal]", check=False)
    assert result.returncode == 1 and "source=released gives no surprisal" in result.output
    assert "Traceback" not in result.output and runs(tmp_path)[1] == []


def test_a_missing_imported_table_is_found_by_the_preflight(tmp_path):
    table = tmp_path / "nowhere.csv.gz"
    result = command(tmp_path, "data=natural_stories", "source=imported", f"source.path={table}", check=False)
    assert result.returncode == 1 and (
        f"gpt3-175b-base-none+imported+natural_stories cannot run:\n  {table}: no such table of token "
        "log-probabilities; set source.path to one (columns token, logprob, offset, story).") in result.output
    assert runs(tmp_path)[1] == []


def test_more_folds_than_units_is_refused_before_the_run(tmp_path):
    result = command(tmp_path, "data=geco", f"data.path='{GECO}/pp2[12]-relfix-feats.csv.gz'", "data.sample=8",
                     "model=gpt2", "size=tiny", check=False)
    assert result.returncode == 1 and (
        "gpt2-tiny-base-none+geco+sample8 cannot run:\n  predictive.folds=10: the data has 8 units for the held-out "
        "predictive power of its reading times; set predictive.folds to at most 8 (2 or more).") in result.output
    assert runs(tmp_path)[1] == []


@pytest.mark.parametrize("damage, message", [
    ("drop", "IA_FIRST_RUN_DWELL_TIME"),
    ("text", "'slow'"),
])
def test_a_reading_measure_column_absent_or_not_a_number_stops_before_the_run(tmp_path, damage, message):
    folder = tmp_path / "onestop"
    shutil.copytree(ONESTOP, folder)
    ia = pd.read_csv(folder / "ia.csv", dtype=str, keep_default_na=False)
    if damage == "drop":
        ia = ia.drop(columns="IA_FIRST_RUN_DWELL_TIME")
    else:
        ia.loc[5, "IA_FIRST_RUN_DWELL_TIME"] = "slow"
    ia.to_csv(folder / "ia.csv", index=False)
    result = command(tmp_path, "data=eyelink", f"data.path={folder}", "data.label=My Lab", "model=gpt2", "size=tiny",
                     check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert "gpt2-tiny-base-none+my_lab cannot run:" in result.output and message in result.output
    assert str(folder / "ia.csv") in result.output
    assert runs(tmp_path)[1] == []
