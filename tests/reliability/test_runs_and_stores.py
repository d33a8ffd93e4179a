"""Bad stores, caches and races: each gives its one line before any MLflow run exists, or leaves no run behind
RUNNING."""
import http.server
import socketserver
import subprocess
import threading
import time

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from attnhuman.app.claims import claim
from attnhuman.app.tracking import quoted
from attnhuman.errors import DataError
from attnhuman.humans.reading_brain.release import TEXT_FILE, Release
from helpers.commands import command, process, runs
from helpers.paths import LLAMA30, READING_BRAIN

RELEASED = ("source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false",
            f"source.path={LLAMA30 / 'packed_plain.npz'}", "analysis.fmri=false")


def test_the_loser_of_a_claim_ends_killed_not_running(tmp_path):
    """Two processes create a run of the same job; the later one yields: KILLED with the reason, then deleted."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("claims")
    first, second = (client.create_run(experiment, tags={"run_identity": "job"}).info.run_id for _ in range(2))
    holder = claim(client, experiment, second, "job", rerun=False)
    assert holder.info.run_id == first and claim(client, experiment, first, "job", rerun=False) is None
    loser = client.get_run(second)
    assert (loser.info.status, loser.info.lifecycle_stage) == ("KILLED", "deleted")
    assert loser.data.tags["killed_reason"] == f"run {first} (RUNNING) holds the same job"
    assert [r.info.run_id for r in client.search_runs([experiment], run_view_type=ViewType.ACTIVE_ONLY)] == [first]


def test_an_unreachable_tracking_server_fails_in_seconds_naming_it(tmp_path):
    started = time.perf_counter()
    result = command(tmp_path, *RELEASED, check=False, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert time.perf_counter() - started < 15
    assert result.returncode == 1
    assert "MLflow tracking server http://127.0.0.1:9: it cannot be reached in 5 s ([Errno 111] Connection refused). " \
           "Start it (make server; docs/clusters.md)" in result.output


def test_a_port_that_is_not_an_mlflow_server_is_named(tmp_path):
    with socketserver.TCPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        result = command(tmp_path, *RELEASED, check=False, env={"MLFLOW_TRACKING_URI": uri})
        server.shutdown()
    assert f"MLflow tracking server {uri}: its health check answered HTTP 404: is it an MLflow server?" in result.output


def test_a_read_only_store_is_named_before_any_run(tmp_path, tiny_released):
    """An immutable store file (chattr +i: even root cannot write it) is found when a new process prepares it."""
    command(tmp_path, *tiny_released)
    db = tmp_path / "mlruns" / "mlflow.db"
    subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        result = process(tmp_path, *tiny_released, "rerun=true", check=False)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert result.returncode == 1
    assert f"MLflow store sqlite:///{db} cannot be opened, created or written (OperationalError: attempt to write " \
           "a readonly database). Make it and its folder writable" in result.stderr
    assert [r.info.status for r in runs(tmp_path)[1]] == ["FINISHED"]


def test_an_unwritable_cache_is_named_before_any_run(tmp_path):
    result = command(tmp_path, *RELEASED, "paths.cache=/sys/attnhuman", check=False)
    assert result.returncode == 1
    assert "paths.cache=/sys/attnhuman cannot be written (Operation not permitted): it keeps parsed human data, " \
           "extractions, weight digests and tokenizers. Make it writable, or set paths.cache (default " \
           "$XDG_CACHE_HOME/attnhuman) to a writable folder." in result.output
    assert runs(tmp_path)[1] == []


def test_a_sweep_in_a_folder_named_with_a_quote_runs_and_compares(tmp_path, tiny_released):
    folder = tmp_path / "it's"
    command(tmp_path, "-m", *tiny_released, f'hydra.sweep.dir="{folder}"')
    found = runs(tmp_path)[1]
    assert sorted((r.data.tags.get("kind", "job"), r.info.status) for r in found) == [
        ("comparison", "FINISHED"), ("job", "FINISHED"), ("sweep", "FINISHED")]
    assert {r.data.tags["sweep_dir"] for r in found} == {str(folder)}
    assert {r.data.tags["sweep"] for r in found} == {f"{tmp_path.name}/it's"}     # outside the working folder


def test_a_value_with_both_quotes_cannot_be_matched_and_says_so():
    with pytest.raises(DataError, match=r"""'a"b\\'c' holds both kinds of quote, which an MLflow filter cannot """
                                        "match: rename it."):
        quoted("a\"b'c")


def test_a_failed_download_leaves_no_empty_folder(tmp_path):
    release = Release(tmp_path / "new" / "reading_brain", text_url="http://127.0.0.1:9/reading_brain.txt")
    with pytest.raises(DataError, match=rf"Reading Brain file 'sentences_p1.txt' is missing from {tmp_path}/new/"
                                        r"reading_brain and could not be downloaded from http://127.0.0.1:9/"
                                        r"reading_brain.txt \(<urlopen error \[Errno 111\] Connection refused>\)"):
        release.path(TEXT_FILE)
    assert list(tmp_path.iterdir()) == []
