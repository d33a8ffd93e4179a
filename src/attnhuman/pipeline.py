"""One job: load the humans and the run's attention, compute resemblance, log everything to MLflow."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman import sharding
from attnhuman.errors import DataError
from attnhuman.fmri import fmri_option, load_fmri_cohorts, log_fmri
from attnhuman.humans import load_cohorts, load_corpus
from attnhuman.plots import layerwise_resemblance
from attnhuman.registry import ModelSpec, resolve_model, run_name
from attnhuman.release import Release
from attnhuman.resemblance import GroupResemblance
from attnhuman.scores import metric_key, score_group
from attnhuman.simulate import load_synthetic, synthetic_corpus
from attnhuman.sources import load_source
from attnhuman.trivial import model_reliance
from attnhuman.tracking import (config_hash, finished_run, flatten, job_config, log_curve, log_metrics,
                                log_params, prepare_store, sweep_id, tracking_uri)

log = logging.getLogger(__name__)


def release_from_config(cfg: DictConfig) -> Release:
    data = cfg.data
    return Release(data.root, download=data.download, cache_dir=data.cache_dir,
                   pickles_url=data.release.pickles_url, text_url=data.release.text_url)


def load_humans(cfg: DictConfig):
    """``(corpus, cohorts, report)`` for ``cfg.analysis.groups``, by ``data.name``: ``reading_brain`` (the
    release, METHOD.md section 3) or ``synthetic`` (simulated readers, attnhuman.simulate)."""
    groups = tuple(cfg.analysis.groups)
    if cfg.data.name == "synthetic":
        return load_synthetic(cfg.data, groups)
    if cfg.data.name != "reading_brain":
        raise DataError(f"data={cfg.data.name} is not available; use data=reading_brain or data=synthetic.")
    release = release_from_config(cfg)
    corpus = load_corpus(release)
    cohorts, report = load_cohorts(release, corpus, groups, subjects=cfg.data.subjects,
                                   exclude=cfg.data.exclude_subjects)
    return corpus, cohorts, report


def load_run_corpus(cfg: DictConfig):
    """The corpus :func:`load_humans` would give, without building any cohort."""
    if cfg.data.name == "synthetic":
        return synthetic_corpus(cfg.data)[0]
    return load_corpus(release_from_config(cfg))


def load_fmri(cfg: DictConfig, corpus, report) -> dict:
    """``{group: {region: Cohort}}`` for ``analysis.fmri`` (METHOD.md section 9), the fMRI exclusions added to
    ``report``; ``{}`` when off, or for data other than the Reading Brain release (logged)."""
    if fmri_option(cfg.analysis.get("fmri", False)) is None:
        return {}
    if cfg.data.name != "reading_brain":
        log.info("analysis.fmri: skipped, data=%s has no fMRI recordings (only data=reading_brain).", cfg.data.name)
        return {}
    release, exclude = release_from_config(cfg), cfg.data.exclude_subjects or {}
    return {g: load_fmri_cohorts(release, corpus, g, exclude=list(exclude.get(g, [])), report=report)
            for g in cfg.analysis.groups}


def _output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(tempfile.mkdtemp(prefix="attnhuman-"))


def run(cfg: DictConfig) -> dict | None:
    """Run one job; returns its summary metrics, or None when a FINISHED run already has this config."""
    spec = resolve_model(cfg)
    name = run_name(cfg)
    if not sharding.is_main():
        return _assist(cfg, spec)
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    digest = config_hash(cfg)
    previous = finished_run(client, experiment_id, digest)
    if _agree_to_skip(cfg, previous is not None and not cfg.rerun):
        log.info("Skipping %s: FINISHED run %s has the same resolved config (rerun=true runs it again).",
                 name, previous.info.run_id)
        return None
    tags = {"config_hash": digest, "model": spec.model, "size": spec.size, "tuning": spec.tuning,
            "prefix": cfg.prefix.name, "source": cfg.source.name, "family": spec.family, "stage": spec.stage,
            **_sweep_tag()}
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    log.info("MLflow run %s (%s) in %s", name, run_id, tracking_uri(cfg))
    try:
        summary = _analyze(cfg, spec, client, run_id, _output_dir())
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return summary


def _sweep_tag() -> dict:
    """``{"sweep": <sweep folder>}`` for a job of a Hydra multirun (its comparison selects by it)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return {"sweep": sweep_id(HydraConfig.get().sweep.dir)}
    return {}


def _agree_to_skip(cfg: DictConfig, skip: bool | None) -> bool:
    """Rank 0's decision to skip the job, shared with the other ranks of a source=deepspeed job."""
    if cfg.source.name != "deepspeed":
        return bool(skip)
    sharding.init(cfg.source.tp_size)
    return sharding.broadcast(skip)


def _assist(cfg: DictConfig, spec: ModelSpec) -> None:
    """A source=deepspeed rank other than 0: extract this rank's heads for rank 0; never log."""
    if _agree_to_skip(cfg, None):
        return None
    load_source(cfg, spec, load_run_corpus(cfg))
    return None


def _analyze(cfg: DictConfig, spec: ModelSpec, client: MlflowClient, run_id: str, out: Path) -> dict:
    log_params(client, run_id, flatten(job_config(cfg)))
    if (out / ".hydra").is_dir():
        client.log_artifacts(run_id, str(out / ".hydra"), ".hydra")

    corpus, cohorts, report = load_humans(cfg)
    fmri_cohorts = load_fmri(cfg, corpus, report)      # before the report is written: it holds fMRI exclusions
    log.info("%s", report.format())
    _log_table(client, run_id, out, "reports/exclusions.csv", report.to_frame(), index=False)

    store, source_tags, source_metrics = load_source(cfg, spec, corpus)
    for key, value in source_tags.items():
        client.set_tag(run_id, key, value)
    log_metrics(client, run_id, source_metrics)
    reliance = model_reliance(store)             # trivial-pattern reliance, METHOD.md section 7
    log_curve(client, run_id, "trivial_r2", reliance.layer_r2)
    if reliance.constant:
        log.warning("%s", reliance.describe_constant())
    # analysis.score / predictors / ceiling / permutation (attnhuman.scores); the paper default has no suffix
    results = {g: score_group(store, cohort, corpus, cfg.analysis) for g, cohort in cohorts.items()}

    summary = {}
    for group, res in results.items():
        sfx = res.suffix
        log_curve(client, run_id, metric_key("r2", sfx, group), res.layer_r2)
        summary.update({metric_key("resemblance", sfx, group): res.resemblance,
                        metric_key("best_layer", sfx, group): res.best_layer,
                        metric_key("ceiling", sfx, group): res.ceiling, f"n_subjects_{group}": len(res.subjects),
                        f"n_sentences_{group}": cohorts[group].n_sentences})
        table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"),
                             columns=pd.Index(range(store.n_layers), name="layer"))
        _log_table(client, run_id, out, f"tables/{metric_key('r2', sfx, group)}.csv", table)
        if res.permutation is not None:                 # analysis.permutation.n > 0
            perm = res.permutation
            log_curve(client, run_id, metric_key("perm_p", sfx, group), perm.p)
            log_curve(client, run_id, metric_key("perm_q", sfx, group), perm.q)
            summary.update({metric_key("n_fdr_layers", sfx, group): int(perm.significant.sum()),
                            f"perm_immobile_sentences_{group}": perm.n_immobile})
            _log_table(client, run_id, out, f"tables/{metric_key('permutation', sfx, group)}.csv",
                       perm.to_frame(), index=False)
            log.info("[%s] permutation test: %d permutations in %.1f s, %d of %d sentences cannot move, "
                     "%d of %d layers significant at FDR %.2f", group, len(perm.null), perm.seconds,
                     perm.n_immobile, perm.n_sentences, perm.significant.sum(), len(perm.p), perm.alpha)
    if fmri_cohorts:                                    # analysis.fmri: paper-default R2 per region and group
        summary.update(log_fmri(client, run_id, out, store, fmri_cohorts,
                                fmri_option(cfg.analysis.get("fmri")), corpus))
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
