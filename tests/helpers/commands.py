"""Running the commands: in this process through Hydra's own entry point (:func:`command`), or as a process
(:func:`process`) where the process boundary is what is tested; and reading the MLflow store they wrote."""
import contextlib
import importlib.util
import io
import logging
import os
import subprocess
import sys
from dataclasses import dataclass

import pandas as pd
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from mlflow.tracking import MlflowClient

from helpers.paths import ROOT

ENTRIES = {"main": ROOT / "src" / "main.py", "compare": ROOT / "src" / "compare.py"}


@dataclass
class Result:
    """What a command printed (stdout and stderr together) and its exit status."""

    returncode: int
    output: str


def _entry(name: str):
    """The ``@hydra.main`` function of ``src/<name>.py``, as ``python src/<name>.py`` runs it: Hydra finds ``conf/``
    beside the file of a ``__main__`` task function."""
    module = sys.modules.get(f"attnhuman_entry_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"attnhuman_entry_{name}", ENTRIES[name])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main.__wrapped__.__module__ = "__main__"
        sys.modules[spec.name] = module
    return module.main


def _set_environ(values: dict) -> None:
    """Set the environment variables of ``values``; a None value removes it."""
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _folders(tmp_path, args) -> list[str]:
    """Hydra's output folders under ``tmp_path``, unless ``args`` name them."""
    return [f"{key}={tmp_path}/{name}" for key, name in (("hydra.run.dir", "out"), ("hydra.sweep.dir", "multirun"))
            if not any(a.startswith(f"{key}=") for a in args)]


def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/mlruns/mlflow.db"


def command(tmp_path, *args, entry: str = "main", check: bool = True, env: dict | None = None) -> Result:
    """``python src/<entry>.py ARGS`` run in this process, as Hydra runs it (a sweep's jobs one after another, its
    comparison, one-line errors and exit status), with the store and output folders under ``tmp_path``."""
    environ = {"MLFLOW_TRACKING_URI": store(tmp_path), "HYDRA_FULL_ERROR": None, **(env or {})}
    saved = {k: os.environ.get(k) for k in environ}
    _set_environ(environ)
    argv, handlers, level = sys.argv, list(logging.getLogger().handlers), logging.getLogger().level
    sys.argv = [str(ENTRIES[entry]), *args, *_folders(tmp_path, args)]
    out, code = io.StringIO(), 0
    GlobalHydra.instance().clear()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            _entry(entry)()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        _set_environ(saved)
    result = Result(code, out.getvalue())
    if check and code:
        raise AssertionError(result.output[-4000:])
    return result


def process(tmp_path, *args, entry: str = "main", check: bool = True, python=(), env: dict | None = None,
            cwd=ROOT) -> subprocess.CompletedProcess:
    """``python [PYTHON] src/<entry>.py ARGS`` as a process, with the store and output folders under ``tmp_path``."""
    environ = {**os.environ, "MLFLOW_TRACKING_URI": store(tmp_path), **(env or {})}
    proc = subprocess.run([sys.executable, *python, str(ENTRIES[entry]), *args, *_folders(tmp_path, args)],
                          capture_output=True, text=True, env=environ, cwd=cwd)
    if check and proc.returncode:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc


def runs(tmp_path):
    """``(client, runs oldest first)`` of the store a command wrote under ``tmp_path``."""
    client = MlflowClient(store(tmp_path))
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(experiments, order_by=["attributes.start_time ASC"]) if experiments else []


def log_run(client, experiment, tmp_path, name, tags, metrics, store=None, results=None, parameters=32_500_000_000,
            layers=60, curves=None, humans="paper", data="reading_brain"):
    """A FINISHED run as a job logs it on ``data``: params, metrics, per-layer curves, its attention and R2 tables."""
    run_id = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    client.log_param(run_id, "data.name", data)
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
