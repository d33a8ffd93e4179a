"""Test helpers: where the real data is, independent reference computations, and running the commands.

The real data is read from $ATTNHUMAN_DATA (default ../shared/data beside the project); only the
``data`` and ``e2e`` tiers use it.
"""
from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold

import attnhuman.app.spec  # noqa: F401  (registers the analysis schema that conf/analysis composes)
from attnhuman.app.factories import build
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.humans.reading_brain.layout import REGIONS

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
DATA = Path(os.environ.get("ATTNHUMAN_DATA", ROOT.parent / "shared" / "data")).resolve()
READING_BRAIN = DATA / "reading_brain"
LLAMA30 = DATA / "released_attention" / "llama-30b"
GECO_COLUMNS = dict(subject="from_filename", unit="sentence_id", word_index="word_id", word="word", measure="TRT")
EYELINK = dict(ia_report="ia.csv", fixation_report="fixations.csv",          # conf/data/eyelink.yaml's settings
               columns=dict(subject="participant_id", unit="unique_paragraph_id", word_index="IA_ID", word="IA_LABEL",
                            measure="IA_DWELL_TIME"),
               fixation_columns=dict(subject="participant_id", unit="unique_paragraph_id", order="CURRENT_FIX_INDEX",
                                     word="CURRENT_FIX_INTEREST_AREA_ID"))


def padded_batch(lengths, seed: int = 1) -> dict:
    """Right-padded random ``input_ids`` / ``attention_mask`` of sequences of ``lengths`` (ids 3..99), seeded."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((len(lengths), max(lengths)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(3, 100, (n,), generator=g)
        mask[b, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def combinations() -> list[str]:
    """Every registered ``<model>_<size>``, read from conf/model."""
    return sorted(f"{p.stem}_{size}" for p in (CONF_DIR / "model").glob("*.yaml")
                  for size in OmegaConf.load(p).sizes)


def write_pickle(path: Path, obj) -> None:
    if path.is_symlink():
        path.unlink()
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def read_pickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)  # test-only: real release files, plain pickle as reference


def lstsq_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Reference: OLS with intercept by numpy.linalg.lstsq, R2 per target column."""
    x = np.column_stack([np.ones(len(design)), design])
    coef = np.linalg.lstsq(x, targets, rcond=None)[0]
    residual = targets - x @ coef
    centred = targets - targets.mean(axis=0)
    return 1 - (residual ** 2).sum(axis=0) / (centred ** 2).sum(axis=0)


def reference_cohort(group, sfx, exclude, kept_sentences):
    """Independent proxy cohort: plain loops over the raw pickles."""
    rois = [read_pickle(READING_BRAIN / "roi_activations" / group / f"activations_{r}_{sfx}.pkl") for r in REGIONS]
    means = [m for article in read_pickle(READING_BRAIN / f"mean_saccade_num_{sfx}.pkl") for m in article]
    columns = []
    for s in range(len(rois[0])):
        cells = []
        for k in kept_sentences:
            hit = None
            for roi in rois:
                if not roi[s]:
                    continue
                sentence = [x for article in roi[s] for x in article][k]
                try:
                    m = np.array(sentence, dtype=float)
                except ValueError:
                    continue
                m[np.isnan(m)] = 0
                hit = (m != 0) if hit is None else (hit | (m != 0))
            if hit is None:
                break
            cells.append(hit[np.tril_indices(len(hit))])
        if len(cells) == len(kept_sentences) and s not in exclude:
            columns.append(np.concatenate(cells).astype(float))
    mean = np.concatenate([np.asarray(means[k])[np.tril_indices(len(means[k]))] for k in kept_sentences])
    return np.column_stack(columns), mean


def compose_job(*overrides: str):
    """The job config ``python src/main.py OVERRIDES`` composes."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def synthetic_data(**overrides):
    """``data=synthetic`` with ``overrides`` of ``data.*`` keys (added if new), as the job builds it; no cache."""
    cfg = compose_job("data=synthetic", f"paths.cache={ROOT / '.no-cache'}",
                      *(f"++data.{key}={value}" for key, value in overrides.items()))
    return build(cfg.data, "data")


def load_synthetic(groups=("L1", "L2"), **overrides):
    """``(corpus, cohorts, report)`` of simulated readers configured by ``overrides``."""
    simulation = synthetic_data(**overrides)
    corpus = simulation.corpus()
    return (corpus, *simulation.cohorts(corpus, list(groups)))


def main(tmp_path, *args, check=True, python=()):
    """``python [PYTHON] src/main.py ARGS`` with a store and output folders under ``tmp_path``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    proc = subprocess.run([sys.executable, *python, str(ROOT / "src" / "main.py"), *args, f"hydra.run.dir={tmp_path}/out",
                           f"hydra.sweep.dir={tmp_path}/multirun"], capture_output=True, text=True, env=env, cwd=ROOT)
    if check and proc.returncode:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc


def runs(tmp_path):
    """``(client, runs oldest first)`` of the store :func:`main` wrote."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(experiments, order_by=["attributes.start_time ASC"]) if experiments else []


def log_run(client, experiment, tmp_path, name, tags, metrics, store=None, results=None, parameters=32_500_000_000,
             layers=60, curves=None, humans="paper"):
    """A FINISHED run as a job logs it: params, metrics, per-layer curves, its attention and R2 tables."""
    run_id = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    client.log_param(run_id, "data.name", "reading_brain")
    if humans is not None:
        client.set_tag(run_id, "humans_hash", humans)
    client.log_param(run_id, "model_size.parameters", str(parameters))
    client.log_param(run_id, "model_size.layers", str(layers))
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    for key, values in (curves or {}).items():
        for step, value in enumerate(values):
            client.log_metric(run_id, f"layer/{key}", value, step=step)
    folder = tmp_path / run_id
    if store is not None:
        client.log_artifact(run_id, str(store.save(folder / "attention.npz")), "attention")
    for group, res in (results or {}).items():
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"))
        table.to_csv(folder / "tables" / f"r2_{group}.csv")
        client.log_artifact(run_id, str(folder / "tables" / f"r2_{group}.csv"), "tables")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def random_store(corpus, seed, layers=1, heads=4, concentration=0.3):
    """Seeded random attention: every row of every head a Dirichlet draw over j <= i (sums to 1)."""
    rng = np.random.default_rng(seed)
    sent, rows, _ = tril_cells(corpus.n_words)
    row_id = np.concatenate([[0], np.cumsum(corpus.n_words)])[:-1][sent] + rows
    raw = rng.gamma(concentration, size=(layers, heads, corpus.n_cells))
    sums = np.stack([[np.bincount(row_id, weights=raw[l, h]) for h in range(heads)] for l in range(layers)])
    return AttentionStore((raw / sums[..., row_id]).astype(np.float32), corpus.n_words.copy(),
                          corpus.sentences_per_article.copy())


def oof_r2(predict, x, y, fold):
    """Reference out-of-fold R2: concatenated per-fold predictions, SST around the overall mean."""
    yhat = np.empty_like(y)
    for k in np.unique(fold):
        test = fold == k
        yhat[test] = predict(x[~test], y[~test], x[test])
    return 1 - ((y - yhat) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def sklearn_folds(groups, k, seed):
    """Reference folds: scikit-learn GroupKFold with shuffling, as a fold index per cell."""
    fold = np.empty(len(groups), dtype=int)
    for i, (_, test) in enumerate(GroupKFold(k, shuffle=True, random_state=seed).split(groups, groups=groups)):
        fold[test] = i
    return fold


def ols_predict(xtr, ytr, xte):
    """Reference OLS with intercept (scikit-learn) fitted on the training cells, predicting the test cells."""
    return LinearRegression().fit(xtr, ytr).predict(xte)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, seconds: float, what: str) -> None:
    """Wait until ``url``/health answers; kill ``proc`` and raise naming ``what`` when it does not in time."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{what} did not start")
            time.sleep(1)
