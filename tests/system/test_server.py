"""A real tracking server (scripts/tracking-server, `make server`): PostgreSQL started as an unprivileged user,
`mlflow server` on a free loopback port; four parallel jobs log to it, and the same jobs again are skipped."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers.paths import ROOT
from helpers.servers import free_port, wait_for_server

PREFIXES = ("none", "translate", "noise", "paraphrase")


@pytest.fixture(scope="module")
def server():
    folder = Path(tempfile.mkdtemp(prefix="attnhuman-server-"))
    folder.chmod(0o755)                       # PostgreSQL's own user must reach its data folder
    env = {**os.environ, "ATTNHUMAN_SERVER_DIR": str(folder), "ATTNHUMAN_PG_PORT": str(free_port()),
           "MLFLOW_PORT": str(free_port()), "MLFLOW_WORKERS": "1", "PYTHON": sys.executable}
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([str(ROOT / "scripts" / "tracking-server"), "up"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
    try:
        wait_for_server(url, proc, 180, "the tracking server")
    except RuntimeError as e:
        raise RuntimeError(f"{e}: {(folder / 'server.log').read_text()[-3000:]}") from None
    yield url
    proc.terminate()
    proc.wait(timeout=60)
    subprocess.run([str(ROOT / "scripts" / "tracking-server"), "stop"], env=env, cwd=ROOT, check=True)


def _jobs(url, tmp_path, name, job):
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    procs = [subprocess.Popen([sys.executable, str(ROOT / "src" / "main.py"), *job, f"prefix={p}",
                               f"hydra.run.dir={tmp_path}/{name}-{p}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for p in PREFIXES]
    return [(p.returncode, out + err) for p, (out, err) in zip(procs, (p.communicate(timeout=600) for p in procs))]


def test_four_parallel_jobs_log_to_the_server_and_are_skipped_again(server, tmp_path, tiny_released):
    for code, log in _jobs(server, tmp_path, "first", tiny_released):
        assert code == 0 and "Traceback" not in log, log[-3000:]
    client = MlflowClient(server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(experiments)
    assert sorted((r.data.tags["prefix"], r.info.status) for r in found) == sorted((p, "FINISHED") for p in PREFIXES)
    stored = client.download_artifacts(found[0].info.run_id, "tables/r2_L1.csv", str(tmp_path))
    assert Path(stored).read_text().startswith("subject,")
    for code, log in _jobs(server, tmp_path, "again", tiny_released):
        assert code == 0 and "Skipping llama-tiny-base-" in log, log[-3000:]
    assert len(client.search_runs(experiments)) == 4
