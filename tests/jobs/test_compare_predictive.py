"""The comparison's predictive power (docs/analyses.md): the pp_* metrics planted in fake runs on Natural Stories come
back in ``tables/predictive_power.csv``; the scaling and attention figures are drawn from 3 distinct x values or more,
and the report of two runs says why they are not."""
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from attnhuman import metrics
from attnhuman.app.spec import comparison_spec
from helpers.commands import command, log_run, runs, store
from helpers.config import compose_job
from helpers.paths import DATA

COMPARE = ["data=natural_stories", f"data.root={DATA / 'natural_stories'}"]
HF = dict(family="gpt2", tuning="base", prefix="none", stage="pretrained", source="hf")
# name: (tags, parameters, held-out DeltaLL of surprisal for RT, L1, word-importance % of ceiling)
RUNS = {
    "gpt2-124m-base-none": (dict(HF, model="gpt2", size="124m"), 124_000_000, 0.011, 40.0),
    "gpt2-355m-base-none": (dict(HF, model="gpt2", size="355m"), 355_000_000, 0.016, 45.0),
    "smollm2-135m-instruct-none": (dict(HF, model="smollm2", family="smollm2", size="135m", tuning="instruct",
                                        stage="instruction-tuned"), 135_000_000, 0.008, 38.0),
    "gpt3-175b-base-none+imported": (dict(HF, model="gpt3", family="gpt3", size="175b", source="imported"),
                                     175_000_000_000, 0.031, None),
}


def _planted(dll: float) -> dict[str, float]:
    """The pp_* metrics of surprisal for RT, L1: every number derived from the held-out DeltaLL."""
    cell = ("surprisal", "RT", "L1")
    return {metrics.pp_dll_cv(*cell): dll, metrics.pp_dll_cv_low(*cell): dll - 0.002,
            metrics.pp_dll_cv_high(*cell): dll + 0.003, metrics.pp_dll_insample(*cell): dll + 0.001,
            metrics.pp_dll_insample_low(*cell): dll - 0.001, metrics.pp_dll_insample_high(*cell): dll + 0.004,
            metrics.pp_r(*cell): 10 * dll, metrics.pp_n_words(*cell): 8534}


def _compare(tmp_path, names: list[str]) -> tuple[MlflowClient, str, dict[str, dict]]:
    """The runs ``names`` logged in a new store as jobs on Natural Stories log them, then the comparison over them."""
    client = MlflowClient(store(tmp_path))
    experiment = client.create_experiment("attnhuman", artifact_location=(tmp_path / "mlruns" / "artifacts").as_uri())
    humans = comparison_spec(compose_job(*COMPARE, config="comparison")).humans.humans_hash
    planted = {}
    for name in names:
        tags, parameters, dll, wi = RUNS[name]
        planted[name] = {**_planted(dll), **({metrics.wi_normalised("L1"): wi} if wi is not None else {})}
        if name.startswith("gpt2-355m"):           # a per-layer predictor: its best layer comes back too
            cell = ("attention_entropy", "RT", "L1")
            planted[name].update({metrics.pp_dll_cv(*cell): 0.002, metrics.pp_best_layer(*cell): 7})
        log_run(client, experiment, tmp_path, name, tags, planted[name], parameters=parameters, humans=humans,
                data="natural_stories")
    command(tmp_path, *COMPARE, entry="compare")
    [comparison] = [r for r in runs(tmp_path)[1] if r.data.tags.get("kind") == "comparison"]
    return client, comparison.info.run_id, planted


def test_planted_predictive_power_comes_back_in_the_table_and_both_figures(tmp_path):
    client, run_id, planted = _compare(tmp_path, list(RUNS))
    folder = tmp_path / "artifacts"
    client.download_artifacts(run_id, "", str(folder))
    table = pd.read_csv(folder / "tables" / "predictive_power.csv")
    assert len(table) == 5
    for row in table.itertuples():
        tags, parameters, _, _ = RUNS[row.run]
        cell = (row.predictor, row.measure, row.group)
        assert (row.model, row.size, row.stage, row.source, row.parameters) == (
            tags["model"], tags["size"], tags["stage"], tags["source"], parameters)
        for column, name in (("dll_cv", metrics.pp_dll_cv), ("dll_cv_low", metrics.pp_dll_cv_low),
                             ("dll_cv_high", metrics.pp_dll_cv_high), ("dll_insample", metrics.pp_dll_insample),
                             ("dll_insample_low", metrics.pp_dll_insample_low),
                             ("dll_insample_high", metrics.pp_dll_insample_high), ("r", metrics.pp_r),
                             ("n_words", metrics.pp_n_words), ("best_layer", metrics.pp_best_layer)):
            expected = planted[row.run].get(name(*cell))
            assert getattr(row, column) == pytest.approx(expected) if expected is not None else \
                pd.isna(getattr(row, column)), (row.run, column)
    assert set(table.predictor) == {"surprisal", "attention_entropy"}
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert {"figures/predictive_power_scaling.png", "figures/attention_vs_prediction.png"} <= figures
    report = (folder / "report.md").read_text()
    assert "## Predictive power (`tables/predictive_power.csv`)" in report
    assert dict(zip(table.run, table.context.fillna(""))) == {name: "" if "imported" in name else "unit" for name in RUNS}
    assert ("A least-squares line of DeltaLL on log10(parameters) over the runs of one context with at least 3 distinct "
            "sizes (surprisal, RT, L1: context unit).") in report
    assert "wi_normalised_L1 against pp_dll_cv_surprisal_RT_L1" in report
    assert "![Predictive power and model size (not in the paper)](figures/predictive_power_scaling.png)" in report


def test_two_sizes_draw_neither_figure_and_the_report_says_why(tmp_path):
    client, run_id, _ = _compare(tmp_path, ["gpt2-124m-base-none", "gpt2-355m-base-none"])
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert not {"figures/predictive_power_scaling.png", "figures/attention_vs_prediction.png"} & figures
    report = open(client.download_artifacts(run_id, "report.md", str(tmp_path / "report"))).read()
    assert ("**Predictive power and model size (not in the paper)** is not drawn: it needs runs of at least 3 distinct "
            "sizes with a held-out DeltaLL (pp_dll_cv_*) of one predictor, reading measure and group; the most present "
            "is 2") in report
    assert ("**Attention resemblance and predictive power (not in the paper)** is not drawn: it needs runs with 3 "
            "distinct values of a held-out surprisal DeltaLL") in report
    assert "| gpt2-124m-base-none |" in report
