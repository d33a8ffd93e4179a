"""Checks a Hydra sweep before it starts (used by the ``checked`` sweeper plugin)."""
from __future__ import annotations

from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman.app import comparison
from attnhuman.app.config import (
    CompactConfigError,
    CompactDataError,
    config_hash,
    fmri_score,
    resolve_model,
    run_name,
    score_options,
)
from attnhuman.app.job import attention_source, human_data
from attnhuman.app.tracking import prepare_store, sweep_id, sweep_parent, tracking_uri
from attnhuman.attention.extraction import ranks
from attnhuman.errors import ConfigError, DataError


def combinations(config: DictConfig, loader) -> list[str]:
    """Every registered ``<model> <size>``, read from the ``model`` config group."""
    out = []
    for model in loader.get_group_options("model"):
        entry = loader.load_sweep_config(config, [f"model={model}"]).model
        out += [f"{model} {size}" for size in sorted(entry.sizes)]
    return out


def check_jobs(config: DictConfig, loader, arguments: list[str]) -> list[tuple[str, str]]:
    """Compose every job of the sweep and check its model and analysis options, then what it needs (checkpoint,
    released file, data files, the MLflow store); raise listing every invalid job, or every missing input, before
    any job starts.

    Returns ``[(run name, config hash)]`` of the jobs: the sweep's comparison is over their runs.
    """
    overrides = OverridesParser.create().parse_overrides(list(arguments))
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    problems, identities, missing = [], [], {}
    runs_here = "Slurm" not in str(config.hydra.launcher.get("_target_", ""))   # where jobs will find room
    for job in jobs:
        try:
            job_cfg = loader.load_sweep_config(config, list(job))
            score_options(job_cfg)
            fmri_score(job_cfg)
            identities.append((run_name(job_cfg), config_hash(job_cfg)))
        except (HydraException, ConfigError) as e:
            problems.append(f"  {' '.join(job)}: {str(e).strip().splitlines()[0]}")
            continue
        for problem in preflight(job_cfg, runs_here):
            missing.setdefault(problem, []).append(run_name(job_cfg))
    if problems:
        raise CompactConfigError("Invalid sweep, no job was started:\n" + "\n".join(problems)
                                 + "\nValid model/size combinations: " + ", ".join(combinations(config, loader)))
    try:
        prepare_store(config)
    except DataError as e:
        missing.setdefault(str(e), []).append("every job")
    if missing:
        raise CompactDataError(f"Missing inputs ({len(missing)}), no job was started:\n" + "\n".join(
            f"  {', '.join(names)}: {problem}" for problem, names in missing.items()))
    return identities


def preflight(cfg: DictConfig, here: bool = True) -> list[str]:
    """What one job needs and lacks, found without reading any data or weights (``here``: the job runs on this
    machine, so its weights must fit this machine's memory)."""
    problems = []
    try:
        problems += human_data(cfg).problems(list(cfg.analysis.groups))
        problems += attention_source(cfg, resolve_model(cfg)).problems(here)
    except DataError as e:
        problems.append(str(e))
    return problems


def start_sweep(config: DictConfig, jobs: list[tuple[str, str]]) -> str | None:
    """The sweep's parent run (rank 0), which its job runs and its comparison run hang under in the MLflow UI."""
    if not ranks.is_main():
        return None
    client, experiment_id = MlflowClient(tracking_uri(config)), prepare_store(config)
    sweep = sweep_id(config.hydra.sweep.dir)
    parent = sweep_parent(client, experiment_id, sweep)
    if parent is None:
        name = f"sweep-{Path(sweep).parent.name}-{Path(sweep).name}"
        parent = client.create_run(experiment_id, run_name=name, tags={"kind": "sweep", "sweep": sweep,
                                                                       "n_jobs": str(len(jobs))}).info.run_id
    return parent


def end_sweep(config: DictConfig, jobs: list[tuple[str, str]], parent: str | None, jobs_ok: bool) -> None:
    """The sweep's comparison run over its jobs' FINISHED runs (``compare.after_sweep``), on rank 0; it runs
    when some jobs failed too, and its own failure fails the command. The parent run ends FINISHED when every
    job and the comparison did, else FAILED."""
    if not ranks.is_main():
        return
    ok = False
    try:
        if config.compare.after_sweep:
            comparison.run(config, sweep=sweep_id(config.hydra.sweep.dir), jobs=jobs)
        ok = jobs_ok
    finally:
        if parent is not None:
            MlflowClient(tracking_uri(config)).set_terminated(parent, "FINISHED" if ok else "FAILED")
