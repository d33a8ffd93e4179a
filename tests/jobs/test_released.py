"""Jobs and sweeps of released attention, in-process through Hydra's entry point: every logged number against an
independent computation, artifacts, skipping what is FINISHED, a failing job, an invalid sweep, a failing comparison."""
import numpy as np
import pandas as pd
import pytest

from helpers.commands import command, runs
from helpers.paths import LLAMA30, READING_BRAIN
from helpers.references import lstsq_r2, reference_cohort

BASE = ["source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false"]
PLAIN = f"source.path={LLAMA30 / 'packed_plain.npz'}"


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("released")
    return tmp, command(tmp, *BASE, PLAIN)


def test_logged_metrics_equal_an_independent_computation(llama_run):
    tmp, result = llama_run
    client, found = runs(tmp)
    assert len(found) == 1
    run = found[0]
    assert run.info.run_name == "llama-30b-base-none+released" and run.info.status == "FINISHED"
    attention = np.load(LLAMA30 / "packed_plain.npz")["attention"]
    for group, sfx, exclude, dropped in (("L1", "p1", {0}, {77}), ("L2", "p2", set(), {20, 77})):
        kept = [k for k in range(148) if k not in dropped]
        targets, mean = reference_cohort(group, sfx, exclude, kept)
        cells = np.repeat(np.isin(np.arange(148), kept), [n * (n + 1) // 2 for n in np.load(
            LLAMA30 / "packed_plain.npz")["n_words"]])
        r2 = np.stack([lstsq_r2(attention[l][:, cells].T.astype(float), targets) for l in range(60)])
        history = client.get_metric_history(run.info.run_id, f"layer/r2_{group}")
        assert [m.step for m in history] == list(range(60))
        depth = client.get_metric_history(run.info.run_id, f"depth/r2_{group}")
        assert [m.step for m in depth] == [round(100 * layer / 59) for layer in range(60)]
        np.testing.assert_array_equal([m.value for m in depth], [m.value for m in history])
        np.testing.assert_allclose([m.value for m in history], r2.mean(axis=1), rtol=0, atol=1e-6)
        ceiling = lstsq_r2(mean[:, None], targets).mean()
        metrics = run.data.metrics
        assert metrics[f"ceiling_{group}"] == pytest.approx(ceiling, abs=1e-6)
        assert metrics[f"resemblance_{group}"] == pytest.approx(100 * r2.mean(axis=1).max() / ceiling, abs=1e-4)
        assert metrics[f"best_layer_{group}"] == np.argmax(r2.mean(axis=1))
        assert metrics[f"n_subjects_{group}"] == targets.shape[1]
        # the 95% interval: subjects resampled with the bootstrap's seeded draws, each statistic from scratch
        per_subject_ceiling = np.array([lstsq_r2(mean[:, None], targets[:, [s]])[0] for s in range(targets.shape[1])])
        draws = np.random.default_rng(0).integers(0, targets.shape[1], size=(1000, targets.shape[1]))
        boot = [100 * r2[:, d].mean(axis=1).max() / per_subject_ceiling[d].mean() for d in draws]
        assert (metrics[f"resemblance_low_{group}"], metrics[f"resemblance_high_{group}"]) == \
            pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])), abs=1e-4)
        ceilings = [per_subject_ceiling[d].mean() for d in draws]
        assert metrics[f"ceiling_low_{group}"] == pytest.approx(np.percentile(ceilings, 2.5), abs=1e-6)
        pct = client.get_metric_history(run.info.run_id, f"layer/pct_{group}")
        np.testing.assert_allclose([m.value for m in pct], 100 * r2.mean(axis=1) / ceiling, atol=1e-4)
        assert metrics[f"{group} saccade"] == metrics[f"resemblance_{group}"]       # the short headline
        table = pd.read_csv(client.download_artifacts(run.info.run_id, f"tables/r2_{group}.csv", str(tmp)), index_col=0)
        assert table.shape == (targets.shape[1], 60)
        np.testing.assert_allclose(table.to_numpy(), r2.T, atol=1e-9)
    assert f"L2: resemblance {run.data.metrics['resemblance_L2']:.2f}%" in result.output
    tags = run.data.tags
    assert tags["mlflow.note.content"].startswith("L1 saccade 64.3 % (layer 1) · L2 saccade 73.5 % (layer 1) · L1 fMRI")
    assert (tags["corpus"], tags["measure"], tags["flags"]) == ("Reading Brain", "weights", "none")
    assert run.data.metrics["n_excluded_subject_L1"] == 6 and run.data.metrics["n_excluded_sentence_L2"] == 2
    assert run.data.params["model_size.layers"] == "60" and run.data.params["prefix.name"] == "none"


def test_artifacts(llama_run):
    tmp, _ = llama_run
    client, (run,) = runs(tmp)
    listed = {a.path for top in ("", "tables", "reports", "figures", "attention", ".hydra")
              for a in client.list_artifacts(run.info.run_id, top or None)}
    assert {"tables/r2_L1.csv", "tables/r2_L2.csv", "reports/exclusions.csv", "figures/layerwise_resemblance.png",
            "attention/attention.npz", ".hydra/config.yaml", ".hydra/overrides.yaml"} <= listed
    stored = np.load(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp)))
    np.testing.assert_array_equal(stored["attention"], np.load(LLAMA30 / "packed_plain.npz")["attention"])
    report = pd.read_csv(client.download_artifacts(run.info.run_id, "reports/exclusions.csv", str(tmp)))
    assert set(report.loc[report.action == "excluded", "item"]) >= {"L1_S01", "L2_S42", "#77 (article 2, sentence 15)"}


def test_finished_config_is_skipped_unless_rerun(llama_run):
    tmp, _ = llama_run
    again = command(tmp, *BASE, PLAIN)
    assert "Skipping llama-30b-base-none+released" in again.output
    assert len(runs(tmp)[1]) == 1
    command(tmp, *BASE, PLAIN, "rerun=true")
    assert [r.info.status for r in runs(tmp)[1]] == ["FINISHED", "FINISHED"]


def test_sweep_marks_a_failed_job_and_goes_on(tmp_path, tiny_released):
    """A job that fails on its data is FAILED, the others run and are compared, the sweep exits non-zero."""
    tiny = [a for a in tiny_released if not a.startswith("size=")]
    result = command(tmp_path, "-m", *tiny, "size=7b,tiny", check=False)
    assert result.returncode != 0
    client, found = runs(tmp_path)
    [parent] = [r for r in found if r.data.tags.get("kind") == "sweep"]     # FAILED: one of its jobs did
    assert parent.info.status == "FAILED" and parent.data.tags["n_jobs"] == "2"
    assert {r.data.tags.get("mlflow.parentRunId") for r in found if r is not parent} == {parent.info.run_id}
    jobs = {r.info.run_name: r.info.status for r in found if "kind" not in r.data.tags}
    assert jobs == {"llama-7b-base-none+released": "FAILED", "llama-tiny-base-none+released": "FINISHED"}
    [failed] = [r for r in found if r.info.status == "FAILED" and "kind" not in r.data.tags]
    reason = failed.data.tags["mlflow.note.content"]                  # the reason, in the run's description
    assert reason.startswith("FAILED: DataError: ") and "\n" not in reason
    assert "2 layers x 5 heads, but the registry says llama 7b has 32 x 32" in reason
    [comparison] = [r for r in found if r.data.tags.get("kind") == "comparison"]     # for the jobs that finished
    assert comparison.data.metrics["n_runs"] == 1 and comparison.data.metrics["n_left_out"] == 1
    left_out = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/left_out.csv", str(tmp_path)))
    assert left_out.to_dict("records") == [{"run": "job llama-7b-base-none+released",
                                            "reason": "no FINISHED run (it failed or did not run)"}]
    assert "2 layers x 5 heads, but the registry says llama 7b has 32 x 32" in result.output
    assert "Traceback" not in result.output


def test_invalid_combination_fails_before_any_job(tmp_path):
    result = command(tmp_path, "-m", "model=alpaca", "size=7b,30b", "source=released", check=False)
    assert result.returncode != 0
    assert "Invalid sweep, no job was started" in result.output
    assert "model=alpaca size=30b source=released: alpaca has no size '30b'; choose one of ['13b', '7b']" in result.output
    assert "Valid model/size combinations: alpaca 13b, alpaca 7b, gemma3 270m" in result.output
    assert "Traceback" not in result.output
    assert runs(tmp_path)[1] == []


def test_a_comparison_that_fails_fails_the_sweep(tmp_path, tiny_released):
    """The jobs finish; the comparison stops on its own bad setting (alpha) and the command exits non-zero."""
    result = command(tmp_path, "-m", *tiny_released, "prefix=none,translate", "compare.alpha=2", check=False)
    assert result.returncode != 0 and "alpha must be in (0, 1), got 2" in result.output
    found = runs(tmp_path)[1]
    assert sorted(r.info.status for r in found if "kind" not in r.data.tags) == ["FINISHED", "FINISHED"]
    assert [r.info.status for r in found if r.data.tags.get("kind") == "sweep"] == ["FAILED"]
