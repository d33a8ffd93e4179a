"""A Hydra sweep (used by the ``checked`` sweeper plugin): every job checked before the first starts, the sweep's
parent run (alive while the sweep runs: a killed sweep's parent is marked KILLED by the next sweep), and its
comparison run at the end."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman.app import comparison
from attnhuman.app.claims import Heartbeat, recover_stale, where_tags
from attnhuman.app.errors import CompactConfigError, CompactDataError
from attnhuman.app.job import code_tags, load_humans, preflight
from attnhuman.app.spec import comparison_spec, job_spec, tracking
from attnhuman.app.tracking import SWEEP_TAG, prepare_store, sweep_id, sweep_label, sweep_parent
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
    """Compose every job of the sweep and build its spec (model, options, data and source), then look for what it
    needs (data files and columns, checkpoint, room for its weights, the MLflow store) and read its human data (once
    per data and analysis settings; cached for the jobs); raise listing every invalid job, or every missing input or
    bad data, before any job starts.

    Returns ``[(run name, config hash)]`` of the jobs: the sweep's comparison is over their runs.
    """
    overrides = OverridesParser.create().parse_overrides(list(arguments))
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    problems, identities, missing, humans = [], [], {}, {}
    runs_here = "Slurm" not in str(config.hydra.launcher.get("_target_", ""))   # where jobs will find room
    for job in jobs:
        try:
            spec = job_spec(loader.load_sweep_config(config, list(job)))
        except (HydraException, ConfigError) as e:
            problems.append(f"  {' '.join(job)}: {str(e).strip().splitlines()[0]}")
            continue
        except DataError as e:
            missing.setdefault(str(e), []).append(" ".join(job))
            continue
        identities.append((spec.name, spec.config_hash))
        found = preflight(spec, runs_here)
        for problem in found:
            missing.setdefault(problem, []).append(spec.name)
        if not found:
            humans.setdefault(spec.humans.humans_hash, (spec.humans, []))[1].append(spec.name)
    if problems:
        raise CompactConfigError("Invalid sweep, no job was started:\n" + "\n".join(problems)
                                 + "\nValid model/size combinations: " + ", ".join(combinations(config, loader)))
    try:
        prepare_store(tracking(config))
    except DataError as e:
        missing.setdefault(str(e), []).append("every job")
    for human_spec, names in humans.values() if not missing else ():
        try:                                # the human data read and checked once (and cached) for the jobs
            load_humans(human_spec)
        except DataError as e:
            missing.setdefault(str(e), []).extend(names)
    if missing:
        raise CompactDataError(f"Missing inputs ({len(missing)}), no job was started:\n" + "\n".join(
            f"  {', '.join(names)}: {problem}" for problem, names in missing.items()))
    return identities


@dataclass
class Parent:
    """A sweep's parent run, with the heartbeat that says it is alive."""

    client: MlflowClient
    run_id: str
    heartbeat: Heartbeat


def start_sweep(config: DictConfig, jobs: list[tuple[str, str]]) -> Parent | None:
    """The sweep's parent run (rank 0), which its job runs and its comparison run hang under in the MLflow UI. Parent
    runs of sweeps that were killed (their process gone, no heartbeat) are marked KILLED first, with the reason."""
    if not ranks.is_main():
        return None
    store = tracking(config)
    client, experiment_id = MlflowClient(store.uri), prepare_store(store)
    recover_stale(client, experiment_id, f"tags.kind = '{SWEEP_TAG}'", store.stale_after_s, "sweep")
    sweep = sweep_id(config.hydra.sweep.dir)
    run_id = sweep_parent(client, experiment_id, sweep)
    if run_id is None:
        name = f"sweep-{Path(sweep).parent.name}-{Path(sweep).name}"
        run_id = client.create_run(experiment_id, run_name=name, tags={
            "kind": SWEEP_TAG, "sweep": sweep_label(sweep), "sweep_dir": sweep, "n_jobs": str(len(jobs)), **code_tags(), **where_tags()}).info.run_id
    else:                                   # the same sweep folder again: its parent runs again, here
        client.update_run(run_id, status="RUNNING")
        for key, value in where_tags().items():
            client.set_tag(run_id, key, value)
    return Parent(client, run_id, Heartbeat(client, run_id, store.heartbeat_s).__enter__())


def end_sweep(config: DictConfig, jobs: list[tuple[str, str]], parent: Parent | None, jobs_ok: bool) -> None:
    """The sweep's comparison run over its jobs' FINISHED runs (``compare.after_sweep``), on rank 0; it runs
    when some jobs failed too, and its own failure fails the command. The parent run ends FINISHED when every
    job and the comparison did, else FAILED."""
    if not ranks.is_main():
        return
    ok = False
    try:
        spec = comparison_spec(config)
        if spec.options.after_sweep:
            comparison.run(spec, sweep=sweep_id(config.hydra.sweep.dir), jobs=jobs)
        ok = jobs_ok
    finally:
        if parent is not None:
            parent.heartbeat.__exit__()
            parent.client.set_terminated(parent.run_id, "FINISHED" if ok else "FAILED")
