"""A run's identity holds the code that computed it: after an edit to an analysis, the same sweep runs its jobs again
and the comparison names each run's code; without an edit they are skipped."""
import os
import shutil
import subprocess
import sys

from mlflow.tracking import MlflowClient

from helpers.paths import ROOT


def test_an_edited_analysis_runs_the_sweep_again_and_the_comparison_names_its_code(tmp_path, tiny_released):
    project = tmp_path / "project"                   # this checkout's code and settings, to be edited
    shutil.copytree(ROOT / "conf", project / "conf")
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}

    def sweep(name, *extra):
        proc = subprocess.run([sys.executable, str(project / "src" / "main.py"), "-m", *tiny_released, *extra,
                               f"hydra.sweep.dir={tmp_path}/{name}"], capture_output=True, text=True, env=env,
                              cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    sweep("first", "compare.after_sweep=false")
    assert sweep("same", "compare.after_sweep=false").count("Skipping llama-tiny-base-") == 1
    module = project / "src" / "attnhuman" / "analysis" / "least_squares.py"
    source = module.read_text()
    assert "MIN_EIGEN_RATIO = 1e-10" in source
    module.write_text(source.replace("MIN_EIGEN_RATIO = 1e-10", "MIN_EIGEN_RATIO = 1.0e-10"))   # same numbers
    assert "Skipping" not in sweep("edited")

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    found = client.search_runs([e.experiment_id for e in client.search_experiments()],
                               order_by=["attributes.start_time ASC"])
    jobs = [r for r in found if "kind" not in r.data.tags]
    assert [r.info.status for r in jobs] == ["FINISHED"] * 2
    before, after = {jobs[0].data.tags["code_digest"]}, {jobs[1].data.tags["code_digest"]}
    assert before != after
    assert jobs[0].data.tags["config_hash"] == jobs[1].data.tags["config_hash"]
    assert all(r.data.tags["attnhuman_version"] == "0.1.0" and "git_commit" not in r.data.tags for r in jobs)  # a copy
    [comparison] = [r for r in found if r.data.tags.get("kind") == "comparison"]
    [code] = after
    assert comparison.data.tags["compared_code"] == code
    assert jobs[1].data.metrics["resemblance_L1"] == jobs[0].data.metrics["resemblance_L1"]
    report = open(client.download_artifacts(comparison.info.run_id, "report.md", str(tmp_path))).read()
    assert f"`llama-tiny-base-none+released` (code {code})" in report
    assert f"every run was computed by the same code ({code})" in report
