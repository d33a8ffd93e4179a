"""The comparison run: its tables against independent scipy/numpy computations on the real data, and end to end."""
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers.commands import command, store
from helpers.paths import LLAMA30, READING_BRAIN

TAGS = dict(model="llama", size="30b", tuning="base", family="llama", stage="pretrained", source="released")


def test_sweep_ends_with_a_comparison_run_and_compare_cli(tmp_path):
    """A real sweep (released LLaMA-30B plain and translate) creates the comparison run; src/compare.py too."""
    common = [f"data.root={READING_BRAIN}", "data.download=false", "analysis.fmri=false"]
    sweep = ["-m", "source=released", "model=llama", "size=30b", "prefix=none,translate", f"source.root={LLAMA30.parent}",
             *common]
    command(tmp_path, *sweep)
    # a newer run of the same name scored another way must not replace the sweep's run in a comparison
    command(tmp_path, "source=released", "model=llama", "size=30b", f"source.path={LLAMA30 / 'packed_plain.npz'}",
            "analysis.score=cv", *common)
    command(tmp_path, "compare.filter=\"tags.source = 'released'\"", *common, entry="compare")
    # the same sweep again: both jobs are skipped, and its comparison still holds both
    again = command(tmp_path, *sweep, f"hydra.sweep.dir={tmp_path}/multirun2")
    assert again.output.count("Skipping llama-30b") == 2, again.output[-3000:]

    client = MlflowClient(store(tmp_path))
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(experiments, "tags.kind = 'comparison'", order_by=["attributes.start_time ASC"])
    assert [r.data.tags.get("sweep") is None for r in found] == [False, True, False]
    jobs = {r.info.run_id for r in client.search_runs(experiments, "tags.source = 'released' and params.\"analysis.score\" = 'insample'")}
    for run in found:
        assert run.data.metrics["n_runs"] == 2 and set(run.data.tags["compared_runs"].split(", ")) == jobs
        assert run.data.metrics["L1 saccade/llama-30b-base-none released"] == pytest.approx(64.3185, abs=1e-4)
        best = max(run.data.metrics["L2 saccade/llama-30b-base-none released"],
                   run.data.metrics["L2 saccade/llama-30b-base-translate released"])
        assert run.data.metrics["L2 saccade"] == best            # the column job runs fill, with the best run's value
        assert run.data.tags["mlflow.note.content"].startswith("2 runs compared; best: L1 saccade ")
    left_out = pd.read_csv(client.download_artifacts(found[1].info.run_id, "tables/left_out.csv", str(tmp_path / "l")))
    assert list(left_out.reason) == ["scored on other data settings or analysis options than this comparison"]
    for run in found[:2]:
        folder = client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
        for table in ("divergence", "resemblance", "trivial_humans", "layer_tests", "correlations"):
            assert (tmp_path / run.info.run_id / "tables" / f"{table}.csv").is_file()
        divergence = pd.read_csv(f"{folder}/tables/divergence.csv")
        assert list(divergence.columns) == ["run_a", "run_b", "kind", "metric", "unit", "index", "mean", "sem",
                                            "n_sentences"]
        assert set(divergence.kind) == {"instruction"} and len(divergence) == 120
        report = open(f"{folder}/report.md").read()
        for number in ("2", "3", "4", "5", "6", "7", "8", "9", "11", "13", "15", "16"):
            assert f"Paper Figure {number}" in report
        assert "![Paper Figure 4](figures/fig4_instruction_divergence.png)" in report and "head-count bias" in report
        assert (tmp_path / run.info.run_id / "figures" / "fig4_instruction_divergence.png").is_file()
        for name in ("layerwise_pct.png", "l1_vs_l2.png"):
            assert (tmp_path / run.info.run_id / "figures" / name).is_file()
        assert "No noise-prefix control among the runs" in report and "noise-prefixed input" not in report
        assert "is not drawn: it needs plain runs of pretrained models with at least 3 distinct sizes" in report
        assert "L2 > L1 in 2 of 2 runs" in report
        assert "| llama-30b-base-none+released |" in report and "63.16" not in report   # percentages: one decimal
        assert "| L1 % | paper L1 % | best layer |" in report and "| 64.3 | 63.2 | 1 |" in report and "32.5B" in report
        assert report.index('<section id="scoreboard">') < report.index("## Human resemblance per run")
        scores = pd.read_csv(f"{folder}/tables/scores.csv").set_index(["run", "column"])
        assert scores.loc[("llama-30b-base-none+released", "saccade L1"), "value"] == pytest.approx(64.3185, abs=1e-4)
        assert scores.loc[("llama-30b-base-none+released", "saccade L2"), "value"] == pytest.approx(73.50, abs=5e-3)
        assert ">64.3 [" in report and ">73.5 [" in report                         # the scoreboard's cells
        html = open(f"{folder}/report.html").read()
        assert html.count('src="data:image/png;base64,') == report.count("![") and "figures/" not in html

