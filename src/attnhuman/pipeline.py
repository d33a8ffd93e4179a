"""One job: load the humans and the run's attention, compute resemblance, log everything to MLflow."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman.humans import load_cohorts, load_corpus
from attnhuman.plots import layerwise_resemblance
from attnhuman.registry import ModelSpec, resolve_model, run_name
from attnhuman.release import Release
from attnhuman.resemblance import GroupResemblance, group_resemblance
from attnhuman.sources import load_source
from attnhuman.tracking import (config_hash, finished_run, flatten, job_config, log_curve, log_metrics,
                                log_params, prepare_store, tracking_uri)

log = logging.getLogger(__name__)


def release_from_config(cfg: DictConfig) -> Release:
    data = cfg.data
    return Release(data.root, download=data.download, cache_dir=data.cache_dir,
                   pickles_url=data.release.pickles_url, text_url=data.release.text_url)


def _output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(tempfile.mkdtemp(prefix="attnhuman-"))


def run(cfg: DictConfig) -> dict | None:
    """Run one job; returns its summary metrics, or None when a FINISHED run already has this config."""
    spec = resolve_model(cfg)
    name = run_name(cfg)
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    digest = config_hash(cfg)
    previous = finished_run(client, experiment_id, digest)
    if previous is not None and not cfg.rerun:
        log.info("Skipping %s: FINISHED run %s has the same resolved config (rerun=true runs it again).",
                 name, previous.info.run_id)
        return None
    tags = {"config_hash": digest, "model": spec.model, "size": spec.size, "tuning": spec.tuning,
            "prefix": cfg.prefix.name, "source": cfg.source.name, "family": spec.family, "stage": spec.stage}
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    log.info("MLflow run %s (%s) in %s", name, run_id, tracking_uri(cfg))
    try:
        summary = _analyze(cfg, spec, client, run_id, _output_dir())
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return summary


def _analyze(cfg: DictConfig, spec: ModelSpec, client: MlflowClient, run_id: str, out: Path) -> dict:
    log_params(client, run_id, flatten(job_config(cfg)))
    if (out / ".hydra").is_dir():
        client.log_artifacts(run_id, str(out / ".hydra"), ".hydra")

    release = release_from_config(cfg)
    corpus = load_corpus(release)
    cohorts, report = load_cohorts(release, corpus, tuple(cfg.analysis.groups), subjects=cfg.data.subjects,
                                   exclude=cfg.data.exclude_subjects)
    log.info("%s", report.format())
    _log_table(client, run_id, out, "reports/exclusions.csv", report.to_frame(), index=False)

    store, source_tags, source_metrics = load_source(cfg, spec, corpus)
    for key, value in source_tags.items():
        client.set_tag(run_id, key, value)
    log_metrics(client, run_id, source_metrics)
    results = {g: group_resemblance(store, cohort) for g, cohort in cohorts.items()}

    summary = {}
    for group, res in results.items():
        log_curve(client, run_id, f"r2_{group}", res.layer_r2)
        summary.update({f"resemblance_{group}": res.resemblance, f"best_layer_{group}": res.best_layer,
                        f"ceiling_{group}": res.ceiling, f"n_subjects_{group}": len(res.subjects),
                        f"n_sentences_{group}": cohorts[group].n_sentences})
        table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"),
                             columns=pd.Index(range(store.n_layers), name="layer"))
        _log_table(client, run_id, out, f"tables/r2_{group}.csv", table)
    log_metrics(client, run_id, summary)

    figure = layerwise_resemblance(results, f"{run_name(cfg)}: layerwise human resemblance")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "figures" / "layerwise_resemblance.png", dpi=120)
    plt.close(figure)
    client.log_artifact(run_id, str(out / "figures" / "layerwise_resemblance.png"), "figures")
    client.log_artifact(run_id, str(store.save(out / "attention" / "attention.npz")), "attention")

    log.info("%s", format_results(run_name(cfg), results))
    return {**source_metrics, **summary}


def _log_table(client: MlflowClient, run_id: str, out: Path, name: str, frame: pd.DataFrame,
               index: bool = True) -> None:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=index)
    client.log_artifact(run_id, str(path), str(Path(name).parent))


def format_results(name: str, results: dict[str, GroupResemblance]) -> str:
    """Per-layer R2 and resemblance, then each group's summary, as text."""
    groups = list(results)
    n_layers = len(next(iter(results.values())).layer_r2)
    header = "layer " + " ".join(f"{'r2_' + g:>9} {'%' + g:>7}" for g in groups)
    lines = [f"Human resemblance of {name}", header]
    for layer in range(n_layers):
        lines.append(f"{layer:5d} " + " ".join(
            f"{results[g].layer_r2[layer]:9.5f} {results[g].layer_resemblance[layer]:7.2f}" for g in groups))
    for g, res in results.items():
        lines.append(f"{g}: resemblance {res.resemblance:.2f}% (best layer {res.best_layer}, R2 {res.r2_model:.5f}, "
                     f"ceiling {res.ceiling:.5f}, {len(res.subjects)} subjects)")
    return "\n".join(lines)
