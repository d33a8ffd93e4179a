"""Test helpers: where the real data is, independent reference computations, and running the commands.

The real data is read from $ATTNHUMAN_DATA (default ../shared/data beside the project); only the
``data`` and ``e2e`` tiers use it.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

import attnhuman.app.config  # noqa: F401  (registers the analysis schema that conf/analysis composes)
from attnhuman.app.factories import build
from attnhuman.humans.layout import REGIONS

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
DATA = Path(os.environ.get("ATTNHUMAN_DATA", ROOT.parent / "shared" / "data")).resolve()
READING_BRAIN = DATA / "reading_brain"
LLAMA30 = DATA / "released_attention" / "llama-30b"


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


def copy_file(src: Path, dst: Path) -> None:
    if dst.is_symlink():
        dst.unlink()
    shutil.copyfile(src, dst)


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
    return build(cfg.data)


def load_synthetic(groups=("L1", "L2"), **overrides):
    """``(corpus, cohorts, report)`` of simulated readers configured by ``overrides``."""
    simulation = synthetic_data(**overrides)
    corpus = simulation.corpus()
    return (corpus, *simulation.cohorts(corpus, list(groups)))


def main(tmp_path, *args, check=True):
    """``python src/main.py ARGS`` with a store and output folders under ``tmp_path``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    proc = subprocess.run([sys.executable, str(ROOT / "src" / "main.py"), *args, f"hydra.run.dir={tmp_path}/out",
                           f"hydra.sweep.dir={tmp_path}/multirun"], capture_output=True, text=True, env=env, cwd=ROOT)
    if check and proc.returncode:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc


def runs(tmp_path):
    """``(client, runs oldest first)`` of the store :func:`main` wrote."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(experiments, order_by=["attributes.start_time ASC"]) if experiments else []
