"""Predictive power in jobs (docs/method.md, "Reading times from model predictions"): GPT-3's imported predictions
on Natural Stories and a tiny random model on GECO, each logged number equal to the analysis run here on the same
inputs, read back from the run's own files; the words left out in the run's exclusion report."""
import numpy as np
import pandas as pd
import pytest

from attnhuman.analysis.attention_entropy import attention_entropy
from attnhuman.analysis.predictive_power import predictive_power
from attnhuman.app.factories import natural_stories
from attnhuman.attention.imported import imported_predictions
from attnhuman.corpus import Corpus
from helpers.commands import command, runs
from helpers.paths import DATA

GPT3 = DATA / "natural_stories" / "all_stories_gpt3.csv.gz"


def _artifact(client, run, name, tmp_path) -> pd.DataFrame:
    return pd.read_csv(client.download_artifacts(run.info.run_id, name, str(tmp_path)))


def test_imported_gpt3_on_natural_stories(tmp_path):
    result = command(tmp_path, "data=natural_stories", "source=imported", f"source.path={GPT3}")
    client, [run] = runs(tmp_path)
    assert run.info.run_name == "gpt3-175b-base-none+imported+natural_stories" and run.info.status == "FINISHED"
    data = natural_stories(root=str(DATA / "natural_stories"))
    corpus = data.corpus()
    times = data.reading_times(corpus, ["L1"])["L1"]["RT"]
    surprisal = imported_predictions(GPT3, corpus).values["surprisal"]
    m = run.data.metrics
    for score in ("cv", "insample"):
        expected = predictive_power(corpus, times, surprisal, score=score)
        assert m[f"pp_dll_{score}_surprisal_RT_L1"] == pytest.approx(expected.delta_ll[0], abs=1e-12)
        assert (m[f"pp_dll_{score}_low_surprisal_RT_L1"], m[f"pp_dll_{score}_high_surprisal_RT_L1"]) == pytest.approx(
            (expected.low[0], expected.high[0]), abs=1e-12)
    assert m["pp_n_words_surprisal_RT_L1"] == expected.n_words == 8534
    assert 0.005 < m["pp_dll_cv_surprisal_RT_L1"] < m["pp_dll_cv_high_surprisal_RT_L1"]
    assert "predictive power of surprisal for RT: DeltaLL held out" in result.output
    exclusions = _artifact(client, run, "reports/exclusions.csv", tmp_path)
    kept = exclusions[exclusions.action == "kept"]
    assert kept[["item", "reason"]].values.tolist() == [[
        "story 2, word 749", "the imported text has 'peeked', the corpus 'peaked': kept by position; its length and "
        "frequency are the corpus word's"]]
    words = exclusions[exclusions.level == "word"].set_index("reason").item
    assert words["predictive power of surprisal for RT: first or last word of its unit"] == "1006 words"
    table = _artifact(client, run, "tables/predictive_power_RT_L1.csv", tmp_path)
    assert len(table) == 8534 and set(table.fold) == set(range(10))
    np.testing.assert_allclose(table.value, surprisal[table.word_index])
    assert "attention/attention.npz" not in [f.path for f in client.list_artifacts(run.info.run_id, "attention")]


def test_a_model_on_word_tables_gives_surprisal_entropy_and_attention_entropy(tmp_path):
    command(tmp_path, "data=geco", f"data.path='{DATA / 'geco_en'}/pp2[13]-relfix-feats.csv.gz'", "data.sample=200",
            "model=gpt2", "size=tiny", "predictive.predictors=[surprisal,entropy,attention_entropy]",
            "predictive.n_boot=200")
    client, [run] = runs(tmp_path)
    m = run.data.metrics
    table = _artifact(client, run, "tables/predictive_power_TRT_L1.csv", tmp_path)
    assert set(table.predictor) == {"surprisal", "entropy", "attention_entropy"}
    with np.load(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp_path))) as z:
        attention, n_words = z["attention"], z["n_words"]
    entropy_rows = table[table.predictor == "attention_entropy"]
    layer = int(m["pp_best_layer_attention_entropy_TRT_L1"])
    assert (entropy_rows.layer == layer).all()
    units = [tuple(["w"] * n) for n in n_words]                     # the word counts are what the cell index needs
    expected = attention_entropy(attention, Corpus((tuple(" ".join(u) for u in units),)))
    np.testing.assert_allclose(entropy_rows.value, expected[layer, entropy_rows.word_index], rtol=1e-6)
    history = client.get_metric_history(run.info.run_id, "layer/pp_dll_cv_attention_entropy_TRT_L1")
    assert len(history) == attention.shape[0]
    assert max(h.value for h in history) == pytest.approx(m["pp_dll_cv_attention_entropy_TRT_L1"])
    for name in ("surprisal", "entropy"):
        assert np.isfinite(m[f"pp_dll_cv_{name}_TRT_L1"]) and m[f"pp_n_words_{name}_TRT_L1"] > 500
