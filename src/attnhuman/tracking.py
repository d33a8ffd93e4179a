"""MLflow tracking: the store, one run per job, resume, and the Hydra callback that prepares a sweep.

The default store is ``sqlite:///<project>/mlruns/mlflow.db`` (``mlflow.tracking_uri``;
``$MLFLOW_TRACKING_URI`` wins). The callback creates it once before any job starts, so parallel
jobs never race on the schema migration.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from hydra.experimental.callback import Callback
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from attnhuman import sharding
from attnhuman.registry import PROJECT_ROOT

log = logging.getLogger(__name__)
UNHASHED_KEYS = ("rerun", "mlflow", "compare")   # they do not change a job's results
MAX_BATCH = 100                       # MLflow's limit of params per log_batch call


def tracking_uri(cfg: DictConfig) -> str:
    return (os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
            or f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}")


def _artifact_location(cfg: DictConfig, uri: str) -> str | None:
    if cfg.mlflow.artifact_location:
        return str(cfg.mlflow.artifact_location)
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
    return None


def prepare_store(cfg: DictConfig) -> str:
    """Create the store (and its schema) and the experiment if needed; returns the experiment id."""
    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=_artifact_location(cfg, uri))


def job_config(cfg: DictConfig) -> dict:
    """The resolved job config without the keys that do not change results."""
    container = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in container.items() if k not in UNHASHED_KEYS and k != "hydra"}


def config_hash(cfg: DictConfig) -> str:
    return hashlib.sha256(json.dumps(job_config(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


def sweep_id(sweep_dir: str) -> str:
    """The sweep's output folder, resolved: tags a sweep's runs (``tags.sweep``) for its comparison."""
    return str(Path(sweep_dir).resolve())


def finished_run(client: MlflowClient, experiment_id: str, digest: str):
    """The latest FINISHED run of this config hash, or None."""
    runs = client.search_runs([experiment_id], f"tags.config_hash = '{digest}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def log_params(client: MlflowClient, run_id: str, params: dict[str, str]) -> None:
    items = [Param(k, v) for k, v in sorted(params.items())]
    for start in range(0, len(items), MAX_BATCH):
        client.log_batch(run_id, params=items[start:start + MAX_BATCH])


def log_metrics(client: MlflowClient, run_id: str, values: dict[str, float], step: int = 0) -> None:
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()])


def log_curve(client: MlflowClient, run_id: str, key: str, values) -> None:
    """A per-layer metric: step = layer index."""
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(v), now, step) for step, v in enumerate(values)]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start:start + 1000])


class TrackingCallback(Callback):
    """Creates the MLflow store before the first job, on rank 0 only (a failure here resurfaces in the job)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if sharding.is_main():
            prepare_store(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if sharding.is_main():
            prepare_store(config)
            log.info("MLflow store %s ready", tracking_uri(config))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        """The comparison run over this sweep's runs (``compare.after_sweep``)."""
        if sharding.is_main() and config.compare.after_sweep:
            from attnhuman.compare import run as compare
            try:
                compare(config, sweep=sweep_id(config.hydra.sweep.dir))
            except Exception:
                log.exception("The comparison run of this sweep failed; run `python src/compare.py` to retry.")
                raise
