"""MLflow: the store (:class:`attnhuman.app.spec.Tracking` says which), finding a finished job, and :class:`RunLog`,
the one sink a run writes through."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.version import VERSION as MLFLOW_VERSION

from attnhuman.app.spec import Tracking
from attnhuman.errors import DataError
from attnhuman.metrics import depth, layer
from attnhuman.reporting.plotting import save

log = logging.getLogger(__name__)
SWEEP_TAG = "sweep"                   # tags.kind of a sweep's parent run
COMPARISON_TAG = "comparison"         # tags.kind of a comparison run
MAX_PARAMS = 100                      # MLflow's limit of params per log_batch call
MAX_METRICS = 1000                    # and of metrics
# the UI opens the experiment on its runs (model development), not on the GenAI dashboard
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def _artifact_location(tracking: Tracking) -> str | None:
    if tracking.artifact_location:
        return tracking.artifact_location
    if tracking.uri.startswith("sqlite:///"):
        return (Path(tracking.uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
    return None


_PREPARED: dict[Tracking, str] = {}       # stores this process has prepared: their experiment ids


def prepare_store(tracking: Tracking) -> str:
    """Create the store (and its schema) and the experiment if needed, once per process; returns the experiment id.

    A SQLite store is created once, under a file lock beside it, in WAL mode (readers never block the writer), so
    that parallel jobs starting together on a new store never race; it starts as a copy of an empty store of this
    MLflow version (:func:`_new_sqlite_store`).
    """
    if tracking in _PREPARED:
        return _PREPARED[tracking]
    uri = tracking.uri
    try:
        if uri.startswith("sqlite:///"):
            path = Path(uri[len("sqlite:///"):])
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(f"{path}.lock", timeout=300):
                if not path.exists():
                    _new_sqlite_store(path, tracking.cache / "mlflow")
                experiment_id = _experiment(MlflowClient(uri), tracking)
                with contextlib.closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("BEGIN IMMEDIATE")             # a write that changes nothing: a read-only store fails
                    db.execute("UPDATE experiments SET name = name WHERE 0")
                    db.execute("ROLLBACK")
        else:
            if uri.startswith(("http://", "https://")):
                check_server(uri)
            experiment_id = _experiment(MlflowClient(uri), tracking)
    except (OSError, MlflowException, sqlite3.Error, Timeout) as e:
        raise DataError(f"MLflow store {uri} cannot be opened, created or written ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:300]}). Make it and its folder writable, or set "
                        "mlflow.tracking_uri (or $MLFLOW_TRACKING_URI) to another store.") from e
    _PREPARED[tracking] = experiment_id
    return experiment_id


def check_server(uri: str, timeout_s: float = 5.0) -> None:
    """A tracking server answers its health check within ``timeout_s``, else one line naming it (MLflow's own client
    retries for minutes before it gives up)."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as answer:
            if answer.status == 200:
                return
            reason = f"its health check answered HTTP {answer.status}"
    except urllib.error.HTTPError as e:
        reason = f"its health check answered HTTP {e.code}: is it an MLflow server?"
    except (urllib.error.URLError, OSError) as e:
        reason = f"it cannot be reached in {timeout_s:g} s ({getattr(e, 'reason', e)})"
    raise DataError(f"MLflow tracking server {uri}: {reason}. Start it (make server; docs/clusters.md), or set "
                    "mlflow.tracking_uri (or $MLFLOW_TRACKING_URI) to a server that runs or to a sqlite:/// store.")


def _new_sqlite_store(path: Path, templates: Path) -> None:
    """A new SQLite store at ``path``: a copy of an empty store whose schema MLflow created and migrated once for its
    version (kept in ``templates``, 2 s saved per store), its default experiment pointed where MLflow points it
    (``./mlruns/0``). Where ``templates`` cannot be written, MLflow creates the store itself."""
    template = templates / f"empty-{MLFLOW_VERSION}.db"
    try:
        if not template.is_file():
            templates.mkdir(parents=True, exist_ok=True)
            partial = templates / f".empty-{MLFLOW_VERSION}.{os.getpid()}.db"
            MlflowClient(f"sqlite:///{partial}").search_experiments(max_results=1)
            partial.replace(template)
        shutil.copyfile(template, path)
    except OSError as e:
        log.debug("No store template in %s (%s): MLflow creates %s", templates, e, path)
        return
    with contextlib.closing(sqlite3.connect(path, timeout=60)) as db, db:
        now = int(time.time() * 1000)
        db.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
                   "WHERE experiment_id = 0", (str(Path.cwd() / "mlruns" / "0"), now, now))


def _experiment(client: MlflowClient, tracking: Tracking) -> str:
    """The experiment's id, created as a model-development experiment if needed (another writer may win)."""
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is None:
        try:
            return client.create_experiment(tracking.experiment, artifact_location=_artifact_location(tracking),
                                            tags=EXPERIMENT_TAGS)
        except MlflowException:               # created meanwhile by another process (tracking server)
            experiment = client.get_experiment_by_name(tracking.experiment)
            if experiment is None:
                raise
    for key, value in EXPERIMENT_TAGS.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def quoted(value: str) -> str:
    """``value`` as an MLflow filter string literal: in single quotes, or double quotes when it holds a single quote
    (a folder named ``it's``)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise DataError(f"{value!r} holds both kinds of quote, which an MLflow filter cannot match: rename it.")


def sweep_id(sweep_dir: str) -> str:
    """The sweep's output folder, resolved: tags a sweep's runs (``tags.sweep_dir``) for its comparison."""
    return str(Path(sweep_dir).resolve())


def sweep_label(sweep: str) -> str:
    """The sweep's folder as people read it (``tags.sweep``): relative to the working folder when under it
    (``multirun/2026-12-06/18-03-24``), else its last two parts."""
    path = Path(sweep)
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(Path(*path.parts[-2:]))


def sweep_parent(client: MlflowClient, experiment_id: str, sweep: str) -> str | None:
    """The parent run of a sweep (``tags.kind = 'sweep'``), which its job and comparison runs hang under."""
    found = client.search_runs([experiment_id], f"tags.kind = '{SWEEP_TAG}' and tags.sweep_dir = {quoted(sweep)}",
                               max_results=1)
    return found[0].info.run_id if found else None


def sweep_tags(client: MlflowClient, experiment_id: str, sweep: str | None) -> dict:
    """A sweep's job or comparison run: ``sweep`` (its folder, :func:`sweep_label`), ``sweep_dir`` (resolved) and
    ``mlflow.parentRunId`` (the sweep's run)."""
    if not sweep:
        return {}
    parent = sweep_parent(client, experiment_id, sweep)
    return {"sweep": sweep_label(sweep), "sweep_dir": sweep, **({"mlflow.parentRunId": parent} if parent else {})}


def finished_run(client: MlflowClient, experiment_id: str, identity: str):
    """The latest FINISHED run of this run identity (config, data, attention input, code version), or None."""
    runs = client.search_runs([experiment_id], f"tags.run_identity = '{identity}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where a run is in the MLflow UI: on the tracking server of an http(s) store, else where ``make ui`` serves a
    local store (http://127.0.0.1:5000), in the UI's model-training view."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith("http") else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


class RunLog:
    """One MLflow run: params, scalar metrics, per-layer curves (step = layer), tables and files.

    Files are written under ``out`` (the Hydra output folder) and logged from there.
    """

    def __init__(self, client: MlflowClient, run_id: str, out: Path):
        self.client, self.run_id, self.out = client, run_id, Path(out)

    def tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def params(self, params: dict[str, str]) -> None:
        items = [Param(k, v) for k, v in sorted(params.items())]
        for start in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(self.run_id, params=items[start:start + MAX_PARAMS])

    def metrics(self, values: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])

    def curve(self, key: str, values) -> None:
        """A per-layer metric, twice: ``layer/<key>`` (step = layer) and ``depth/<key>`` (step = percent of depth)."""
        now = int(time.time() * 1000)
        last = max(len(values) - 1, 1)
        metrics = [Metric(layer(key), float(v), now, step) for step, v in enumerate(values)]
        metrics += [Metric(depth(key), float(v), now, round(100 * step / last)) for step, v in enumerate(values)]
        for start in range(0, len(metrics), MAX_METRICS):
            self.client.log_batch(self.run_id, metrics=metrics[start:start + MAX_METRICS])

    def table(self, name: str, frame: pd.DataFrame, index: bool = True) -> None:
        """``frame`` as the CSV artifact ``name`` (e.g. ``tables/r2_L1.csv``)."""
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=index)
        self.file(path, str(Path(name).parent))

    def file(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def folder(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(path), folder)

    def link(self) -> str:
        """Where the run is in the MLflow UI (:func:`run_link`)."""
        run = self.client.get_run(self.run_id)
        return run_link(self.client.tracking_uri, run.info.experiment_id, self.run_id)

    def figure(self, name: str, figure) -> None:
        """A matplotlib figure as the PNG artifact ``name`` (e.g. ``figures/layerwise_resemblance.png``)."""
        self.file(save(figure, self.out / name), str(Path(name).parent))
