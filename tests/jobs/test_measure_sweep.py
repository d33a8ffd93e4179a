"""Attention measures end to end: a sweep over measures gives one run per measure, each with its own store and the
same human side; measures a source cannot give are refused in one line before any run."""
import numpy as np
import pandas as pd

from helpers.commands import command, runs
from helpers.paths import LLAMA30, READING_BRAIN

COMMON = ["model=gpt2", "size=tiny", "data=synthetic", "data.corpus=demo", "analysis.fmri=false"]


def test_a_sweep_over_two_measures_gives_two_runs_and_a_measures_table(tmp_path):
    command(tmp_path, "-m", *COMMON, "measure=weights,rollout")
    client, found = runs(tmp_path)
    jobs = {r.data.params["measure.name"]: r for r in found if "kind" not in r.data.tags}
    [comparison] = [r for r in found if r.data.tags.get("kind") == "comparison"]
    assert set(jobs) == {"weights", "rollout"}
    assert jobs["rollout"].info.run_name == "gpt2-tiny-base-none+rollout+synthetic"
    stores = {}
    for measure, run in jobs.items():
        with np.load(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp_path))) as z:
            stores[measure] = z["attention"]
    assert stores["weights"].shape[:2] == (2, 4) and stores["rollout"].shape[:2] == (2, 1)
    assert jobs["weights"].data.tags["humans_hash"] == jobs["rollout"].data.tags["humans_hash"]
    assert jobs["weights"].data.tags["cache_key"] != jobs["rollout"].data.tags["cache_key"]
    assert jobs["weights"].data.metrics["ntp_loss"] == jobs["rollout"].data.metrics["ntp_loss"]   # one model
    table = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/measures.csv", str(tmp_path)))
    assert list(table.measure) == ["weights", "rollout"]                    # documented order, not run order
    assert dict(zip(table.measure, table.resemblance_L1)) == {
        m: jobs[m].data.metrics["resemblance_L1"] for m in ("weights", "rollout")}
    figures = {a.path for a in client.list_artifacts(comparison.info.run_id, "figures")}
    assert {"figures/measures.png", "figures/measure_layers.png"} <= figures
    tests = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/layer_tests.csv", str(tmp_path)))
    assert set(zip(tests.kind, tests.run_b)) == {("measure", jobs["rollout"].info.run_name)}   # paired, per layer
    assert len(tests) == 2 * len(set(tests.group))


def test_released_attention_is_weights_only(tmp_path):
    result = command(tmp_path, "source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}",
                f"source.path={LLAMA30 / 'packed_plain.npz'}", "measure=norm", check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert "measure=norm: released attention holds the weights only" in result.output
