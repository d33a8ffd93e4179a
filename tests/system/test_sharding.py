"""DeepSpeed AutoTP extraction: tp_size 1 in process, tp_size 2 across two processes (uneven 3 + 2 heads)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from attnhuman.attention.extraction import sharding
from attnhuman.attention.extraction.extract import extract
from attnhuman.attention.models.checkpoints import open_checkpoint
from attnhuman.attention.store import load_packed
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from helpers.paths import CONF_DIR, ROOT
from helpers.servers import free_port

TINY = OmegaConf.load(CONF_DIR / "model" / "llama.yaml").sizes.tiny
# the shipped demo corpus (20 sentences) and its simulated readers: what is tested (the ranks' heads gathered, the
# sweep's cache) does not depend on the corpus, and the 148 Reading Brain sentences cost ~10 s per launch
DEMO = ["data=synthetic", "data.corpus=demo"]
SENTENCES = (("Could humans live on Mars some day?", "Pick 1,2 ,3 of the “distance (C)”. -81 and 2% items."),
             ("Electric currents decrease.",))


@pytest.fixture(scope="module")
def tiny():
    return open_checkpoint("random", "llama-tiny", architecture=OmegaConf.to_container(TINY.architecture),
                           tokenizer=TINY.tokenizer)



def test_tp_size_1_in_process_equals_unsharded(tiny, monkeypatch):
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    corpus = Corpus(SENTENCES)
    plain = extract(tiny.load(), tiny.tokenizer, corpus, batch_size=2, progress=False)
    sharded_model = sharding.shard(tiny.load(), sharding.init(1), torch.float32)
    sharded = extract(sharded_model, tiny.tokenizer, corpus, batch_size=2, progress=False)
    gathered = sharding.gather_heads(sharded.store.attention)
    assert gathered.shape == (2, 5, corpus.n_cells)
    np.testing.assert_allclose(gathered, plain.store.attention, atol=1e-6)
    np.testing.assert_allclose(sharded.nll, plain.nll, atol=1e-6)



def test_tp_size_must_match_the_launched_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(DataError, match=r"source.tp_size=2 but 1 process\(es\) were launched.*--no_local_rank"):
        sharding.init(2)



def _launch(launcher, tmp_path, *overrides, multirun=False):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db", "OMP_NUM_THREADS": "1"}
    port = str(free_port())
    command = {"deepspeed": ["deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", port, "--no_local_rank"],
               "torchrun": ["torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]}[launcher]
    proc = subprocess.run([sys.executable, "-m", *command, str(ROOT / "src" / "main.py"), *(["-m"] if multirun else []), "source=deepspeed", "model=llama", "size=tiny",
                           *DEMO, "data.download=false", "analysis.fmri=false",
                           f"source.cache_dir={tmp_path}/cache",
                           f"hydra.run.dir={tmp_path}/out", *overrides],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc



def test_two_processes_gather_every_head_on_rank_0(tmp_path, tiny, demo):
    """Two ranks hold 3 and 2 heads; rank 0 gathers them, logs one run, and the result equals one process."""
    proc = _launch("deepspeed", tmp_path)
    assert "Gathered heads per rank: [3, 2]" in proc.stdout + proc.stderr
    reference = extract(tiny.load(), tiny.tokenizer, demo, batch_size=16, progress=False)

    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert (run.data.tags["tp_size"], run.data.tags["cache_hit"]) == ("2", "false")
    store = load_packed(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp_path)))
    assert store.attention.shape == (2, 5, demo.n_cells)
    np.testing.assert_allclose(store.attention, reference.store.attention, atol=1e-6)
    assert run.data.metrics["ntp_loss"] == pytest.approx(reference.ntp_loss, abs=1e-6)

    # a sweep of DeepSpeed jobs under torchrun: the first job is cached on rank 0 (rank 1 is told and
    # loads no weights), the second is extracted across both ranks; one MLflow run per job
    proc = _launch("torchrun", tmp_path, "prefix=none,noise", "rerun=true", f"hydra.sweep.dir={tmp_path}/multirun",
                   multirun=True)
    log = proc.stdout + proc.stderr
    assert log.count("Reusing cached extraction") == 1 and log.count("Gathered heads per rank: [3, 2]") == 1
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    jobs = [r for r in runs if "kind" not in r.data.tags]          # not the sweep's parent and comparison runs
    assert sorted((r.data.tags["prefix"], r.data.tags["cache_hit"], r.info.status) for r in jobs) == [
        ("noise", "false", "FINISHED"), ("none", "false", "FINISHED"), ("none", "true", "FINISHED")]
    others = sorted((r.data.tags["kind"], r.info.status) for r in runs if "kind" in r.data.tags)
    assert others == [("comparison", "FINISHED"), ("sweep", "FINISHED")]      # made by rank 0 only

