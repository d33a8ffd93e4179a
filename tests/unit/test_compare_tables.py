"""The comparison run: its tables against independent scipy/numpy computations on the real data, and end to end."""
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats as sps

from attnhuman.app.comparison import select_runs
from attnhuman.comparison.runs import find_pairs
from attnhuman.comparison.tables import correlation_table

TAGS = dict(model="llama", size="30b", tuning="base", family="llama", stage="pretrained", source="released")
from helpers import log_run


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

