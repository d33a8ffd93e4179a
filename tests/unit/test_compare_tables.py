"""The comparison run: its tables against independent scipy/numpy computations on the real data, and end to end."""
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats as sps

from attnhuman import metrics
from attnhuman.app.comparison import select_runs
from attnhuman.attention.predictors import PREDICTORS
from attnhuman.comparison.runs import find_pairs
from attnhuman.comparison.tables import correlation_table
from helpers.commands import log_run

TAGS = dict(model="llama", size="30b", tuning="base", family="llama", stage="pretrained", source="released")


def test_correlations_and_scaling_fit_on_planted_runs(tmp_path):
    """Four pretrained sizes and two tuned runs with chosen metrics: r, p and the 100B value by hand."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("attnhuman", artifact_location=(tmp_path / "artifacts").as_uri())
    sizes = {"7b": 6.7e9, "13b": 13e9, "30b": 32.5e9, "65b": 65.2e9}
    resemblance = {"7b": 53.0, "13b": 55.7, "30b": 63.2, "65b": 64.1}
    loss = {"7b": 0.241, "13b": 0.2406, "30b": 0.2372, "65b": 0.2375}
    for size, params in sizes.items():
        log_run(client, experiment, tmp_path, f"llama-{size}-base-none", {**TAGS, "size": size, "prefix": "none"},
                 {"resemblance_L1": resemblance[size], "ntp_loss_per_len": loss[size]}, parameters=int(params))
    log_run(client, experiment, tmp_path, "vicuna-13b-v1_1-none",
             {**TAGS, "model": "vicuna", "size": "13b", "tuning": "v1_1", "stage": "instruction-tuned", "prefix": "none"},
             {"resemblance_L1": 54.3, "ntp_loss_per_len": 0.2847}, parameters=int(13e9))
    runs, _ = select_runs(client, experiment, "", "reading_brain", tmp_path / "work")
    kinds = sorted((p.kind, p.a.name, p.b.name) for p in find_pairs(runs, ("llama-7b-base-none", "llama-13b-base-none")))
    assert ("tuning", "llama-13b-base-none", "vicuna-13b-v1_1-none") in kinds
    assert ("reference", "llama-7b-base-none", "llama-13b-base-none") in kinds
    assert sum(k[0] == "scaling" for k in kinds) == 6

    table = correlation_table(runs, ["L1"], target=1e11).set_index(["x", "y"])
    scaling = table.loc[("log10_parameters", "resemblance")]
    x, y = np.log10(list(sizes.values())), np.array(list(resemblance.values()))
    fit = sps.linregress(x, y)
    assert (scaling["n"], scaling["r"], scaling["p_val"]) == (4, pytest.approx(fit.rvalue), pytest.approx(fit.pvalue))
    assert scaling["predicted"] == pytest.approx(fit.intercept + fit.slope * 11)
    loss_row = table.loc[("ntp_loss_per_len", "resemblance")]
    all_loss = [loss[s] for s in sizes] + [0.2847]
    all_res = [resemblance[s] for s in sizes] + [54.3]
    r, p = sps.pearsonr(all_loss, all_res)
    assert (loss_row["n"], loss_row["r"], loss_row["p_val"]) == (5, pytest.approx(r), pytest.approx(p))



def test_runs_are_selected_by_identity_and_every_one_left_out_is_explained(tmp_path):
    """A newer run of the same name scored another way, a run of unknown scoring, a run on edited data and a job
    without a FINISHED run are left out with their reasons; the run of the comparison's own scoring is kept."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("attnhuman", artifact_location=(tmp_path / "artifacts").as_uri())
    name, tags = "llama-30b-base-none", {**TAGS, "prefix": "none", "config_hash": "job-a"}
    kept = log_run(client, experiment, tmp_path, name, tags, {"resemblance_L1": 64.3})
    newer = log_run(client, experiment, tmp_path, name, tags, {"resemblance_L1": 82.3}, humans="cv")
    unknown = log_run(client, experiment, tmp_path, "llama-30b-base-translate", {**tags, "prefix": "translate"},
                      {"resemblance_L1": 60.0}, humans=None)
    edited = log_run(client, experiment, tmp_path, "llama-30b-base-noise", {**tags, "prefix": "noise",
                                                                            "data_modified": "label_prev.pkl"},
                     {"resemblance_L1": 61.0})
    runs, notes = select_runs(client, experiment, "", "reading_brain", tmp_path / "work", humans="paper",
                              data_modified="none")
    assert [r.run_id for r in runs] == [kept]
    assert sorted(notes) == sorted([
        f"{name} ({newer}): scored on other data settings or analysis options than this comparison",
        f"llama-30b-base-translate ({unknown}): made before runs recorded what they were scored on; "
        "run it again to compare it",
        f"llama-30b-base-noise ({edited}): its data files differ from this comparison's (data_modified: "
        "label_prev.pkl vs none)"])
    runs, notes = select_runs(client, experiment, "", "reading_brain", tmp_path / "work", humans="paper",
                              data_modified="none", jobs=[(name, "job-a"), ("llama-7b-base-none", "job-b")])
    assert [r.run_id for r in runs] == [] and notes[0] == "job llama-7b-base-none: no FINISHED run (it failed or did not run)"


def test_predictive_metric_names_are_read_back_with_underscores_in_measure_and_predictor():
    """A reading measure with underscores and a predictor that ends like another one parse back to the cells the
    makers were given; intervals, other pp_* names and other groups are not cells."""
    cells = [("attention_entropy", "IA_DWELL_TIME", "L2"), ("entropy", "IA_DWELL_TIME", "L2"), ("surprisal", "RT", "L1")]
    names = [metrics.pp_dll_cv(*c) for c in cells] + [metrics.pp_dll_cv_low(*cells[0]), metrics.pp_r(*cells[2]),
                                                       metrics.pp_dll_cv("surprisal", "RT", "L3"), "resemblance_L1"]
    assert sorted(metrics.predictive_cells(names, PREDICTORS, ["L1", "L2"])) == sorted(cells)
