"""One job: human data and the run's attention, every analysis, everything logged to MLflow (rank 0 only)."""
from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from attnhuman import __version__
from attnhuman.analysis.fmri import fmri_summary, fmri_table
from attnhuman.analysis.options import metric_key
from attnhuman.analysis.resemblance import GroupResemblance, score_group
from attnhuman.analysis.trivial import model_reliance
from attnhuman.analysis.word_importance import relative, word_importance
from attnhuman.app.claims import Heartbeat, claim, recover_stale, where_tags
from attnhuman.app.config import (
    config_hash,
    flatten,
    fmri_score,
    humans_hash,
    job_config,
    resolve_model,
    run_name,
    score_options,
)
from attnhuman.app.factories import build
from attnhuman.app.tracking import RunLog, finished_run, prepare_store, sweep_id, sweep_tags, tracking_uri
from attnhuman.attention.extraction import measures, ranks
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.corpus import Corpus
from attnhuman.humans.cache import HumansCache
from attnhuman.humans.cache import cache_key as humans_cache_key
from attnhuman.humans.cohort import Cohort, ExclusionReport
from attnhuman.humans.word_table import WordMeasures
from attnhuman.reporting.figures import importance_strip, layerwise_resemblance, word_importance_curves

log = logging.getLogger(__name__)


def human_data(cfg: DictConfig):
    """The ``data`` node as a human-data source: ``corpus()``, ``cohorts(corpus, groups)``, fMRI if it has any."""
    return build(cfg.data)


def attention_source(cfg: DictConfig, spec: ModelSpec):
    """The ``source`` node as an attention source: ``load(corpus) -> SourceOutput``."""
    return build(cfg.source, spec=spec, prefix=OmegaConf.to_container(cfg.prefix, resolve=True),
                 paths=OmegaConf.to_container(cfg.paths, resolve=True), measure=measures.check(str(cfg.measure.name)))


@dataclass
class Humans:
    """What the job compares models with: the corpus, saccade and fMRI cohorts, exclusions, provenance tags."""

    corpus: Corpus
    cohorts: dict[str, Cohort]
    report: ExclusionReport
    fmri: dict[str, dict[str, Cohort]]
    tags: dict[str, str]
    words: dict[str, WordMeasures] = field(default_factory=dict)        # raw measure per word, per group
    importance: dict[str, list] = field(default_factory=dict)          # relative fixation time per unit, per group


def load_humans(cfg: DictConfig, data=None, fingerprint: str | None = None) -> Humans:
    """The human data of ``cfg.data`` (or of ``data``, built from it) for ``cfg.analysis.groups``, parsed once
    per data contents, settings and code (``<paths.cache>/humans``)."""
    data = data or human_data(cfg)
    corpus = data.corpus()
    cache = HumansCache(Path(cfg.paths.cache) / "humans")
    key = humans_cache_key(humans_hash(cfg), fingerprint or data.fingerprint())
    cached = cache.load(key)
    if cached is not None:
        log.info("Human data from the cache (%s)", cache.path(key))
        return _with_words(Humans(corpus, *cached), data, list(cfg.analysis.groups))
    cohorts, report = data.cohorts(corpus, list(cfg.analysis.groups))
    fmri = {}
    if fmri_score(cfg) is not None:
        if data.has_fmri:
            fmri = data.fmri_cohorts(corpus, list(cfg.analysis.groups), report)
        else:
            log.info("analysis.fmri: skipped, data=%s has no fMRI recordings (only data=reading_brain).", cfg.data.name)
    humans = Humans(corpus, cohorts, report, fmri, data.provenance())
    cache.save(key, cohorts, report, fmri, humans.tags)
    return _with_words(humans, data, list(cfg.analysis.groups))


def _with_words(humans: Humans, data, groups: list[str]) -> Humans:
    """The groups' word measures and relative fixation times (docs/method.md section 11), each (subject, unit)
    whose times sum to 0 reported."""
    humans.words = data.word_measures(humans.corpus, groups)
    for group, words in humans.words.items():
        humans.importance[group], zero = relative(words.values)
        for s, k in zero:
            humans.report.add(group, "subject_unit", f"{words.subjects[s]} {humans.corpus.label(k)}",
                              f"{words.measure} sums to 0: no relative fixation time for this subject")
    return humans


def _output_dir() -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(tempfile.mkdtemp(prefix="attnhuman-"))


def _sweep_id() -> str | None:
    """The sweep folder of a job of a Hydra multirun (its comparison and parent run go by it), else None."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_id(HydraConfig.get().sweep.dir)
    return None


def run(cfg: DictConfig) -> dict | None:
    """Run one job; returns its summary metrics, or None when a FINISHED run already has this config.

    Every setting is checked (registry entry, options, the data and source nodes) before any data is read
    and before an MLflow run exists.
    """
    spec = resolve_model(cfg)
    name = run_name(cfg)
    fmri_score(cfg)
    score_options(cfg)
    data, source = human_data(cfg), attention_source(cfg, spec)
    if not ranks.is_main():
        return _assist(cfg, data, source)
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    digest = config_hash(cfg)
    identity = {"config_hash": digest, "data_fingerprint": data.fingerprint(),
                "attention_fingerprint": source.fingerprint(), "code_version": __version__}
    identity["run_identity"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    previous = finished_run(client, experiment_id, identity["run_identity"])
    skip, run_id = previous is not None and not cfg.rerun, None
    if skip:
        log.info("Skipping %s: FINISHED run %s has the same config, data, attention input and code version "
                 "(rerun=true runs it again).", name, previous.info.run_id)
    else:
        recover_stale(client, experiment_id, identity["run_identity"], float(cfg.mlflow.stale_after_s))
        tags = {**identity, "humans_hash": humans_hash(cfg), "model": spec.model, "size": spec.size,
                "tuning": spec.tuning, "prefix": cfg.prefix.name, "source": cfg.source.name, "family": spec.family,
                "stage": spec.stage, **sweep_tags(client, experiment_id, _sweep_id()), **where_tags()}
        run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        holder = claim(client, experiment_id, run_id, identity["run_identity"], bool(cfg.rerun))
        if holder is not None:
            skip = True
            log.info("Skipping %s: run %s (%s, %s) has the same job.", name, holder.info.run_id,
                     holder.info.status, holder.data.tags.get("host", "?"))
    if source.agree(skip):
        return None
    log.info("MLflow run %s (%s) in %s", name, run_id, tracking_uri(cfg))
    try:
        with Heartbeat(client, run_id, float(cfg.mlflow.heartbeat_s)):
            summary = _analyze(cfg, spec, data, source, RunLog(client, run_id, _output_dir()),
                               identity["data_fingerprint"])
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return summary


def _assist(cfg: DictConfig, data, source) -> None:
    """A source=deepspeed rank other than 0: extract this rank's heads for rank 0; never log."""
    if source.agree(None):
        return None
    source.load(data.corpus())
    return None


def _analyze(cfg: DictConfig, spec: ModelSpec, data, source, sink: RunLog, fingerprint: str) -> dict:
    sink.params(flatten(job_config(cfg)))
    if (sink.out / ".hydra").is_dir():
        sink.folder(sink.out / ".hydra", ".hydra")

    humans = load_humans(cfg, data, fingerprint)
    corpus, cohorts, fmri_cohorts = humans.corpus, humans.cohorts, humans.fmri
    log.info("Left out: %s (every entry with its reason: reports/exclusions.csv)", humans.report.summary())
    log.debug("%s", humans.report.format())
    sink.tags(humans.tags)
    sink.table("reports/exclusions.csv", humans.report.to_frame(), index=False)

    output = source.load(corpus)
    store = output.store
    measures.check_shape(store, spec, output.tags.get("attention_input", cfg.source.name), cfg.measure.name)
    sink.tags(output.tags)
    sink.metrics(output.metrics)
    analysis_start = time.perf_counter()
    reliance = model_reliance(store)             # trivial-pattern reliance, docs/method.md section 7
    sink.curve("trivial_r2", reliance.layer_r2)
    if reliance.constant:
        log.warning("%s", reliance.describe_constant())
    options = score_options(cfg)
    results = {g: score_group(store, cohort, corpus, options) for g, cohort in cohorts.items()}

    summary = {}
    for group, res in results.items():
        sfx = res.suffix
        sink.curve(metric_key("r2", sfx, group), res.layer_r2)
        summary.update({metric_key("resemblance", sfx, group): res.resemblance,
                        metric_key("best_layer", sfx, group): res.best_layer,
                        metric_key("ceiling", sfx, group): res.ceiling, f"n_subjects_{group}": len(res.subjects),
                        f"n_sentences_{group}": cohorts[group].n_sentences})
        table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"),
                             columns=pd.Index(range(store.n_layers), name="layer"))
        sink.table(f"tables/{metric_key('r2', sfx, group)}.csv", table)
        if res.permutation is not None:                 # analysis.permutation.n > 0
            perm = res.permutation
            sink.curve(metric_key("perm_p", sfx, group), perm.p)
            sink.curve(metric_key("perm_q", sfx, group), perm.q)
            summary.update({metric_key("n_fdr_layers", sfx, group): int(perm.significant.sum()),
                            f"perm_immobile_sentences_{group}": perm.n_immobile})
            sink.table(f"tables/{metric_key('permutation', sfx, group)}.csv", perm.to_frame(), index=False)
            log.info("[%s] permutation test: %d permutations in %.1f s, %d of %d sentences cannot move, "
                     "%d of %d layers significant at FDR %.2f", group, len(perm.null), perm.seconds,
                     perm.n_immobile, perm.n_sentences, perm.significant.sum(), len(perm.p), perm.alpha)
    if fmri_cohorts:                                    # analysis.fmri: paper-default R2 per region and group
        summary.update(_log_fmri(sink, store, fmri_cohorts, fmri_score(cfg), corpus))
    for group, relfix in humans.importance.items():     # data with reading times: docs/method.md section 11
        summary.update(_log_word_importance(sink, store, corpus, group, relfix))
    summary["analysis_s"] = time.perf_counter() - analysis_start      # the scoring itself (bench/sweep.py)
    sink.metrics(summary)

    name = run_name(cfg)
    if results:
        sink.figure("figures/layerwise_resemblance.png",
                    layerwise_resemblance(results, f"{name}: layerwise human resemblance"))
    sink.file(store.save(sink.out / "attention" / "attention.npz"), "attention")
    if results:
        log.info("%s", format_results(name, results))
    log.info("Run %s in the MLflow UI: %s", name, sink.link())
    return {**output.metrics, **summary}


def _log_word_importance(sink: RunLog, store, corpus: Corpus, group: str, relfix: list) -> dict[str, float]:
    """Word importance with ``received`` mean (the headline, ``wi_*``) and sum (``wi_*_sum``): curves (step =
    layer), the per-layer table, the figure and an example unit; returns the summary metrics."""
    results = {mode: word_importance(store.attention, corpus.n_words, relfix, list(corpus.words), received=mode)
               for mode in ("mean", "sum")}
    summary = {}
    for mode, res in results.items():
        sfx = "" if mode == "mean" else "_sum"
        sink.curve(f"wi_rho{sfx}_{group}", res.layer_rho)
        summary.update({f"wi_best_rho{sfx}_{group}": res.best_rho, f"wi_best_layer{sfx}_{group}": res.best_layer,
                        f"wi_sd{sfx}_{group}": float(res.layer_sd[res.best_layer]),
                        f"wi_normalised{sfx}_{group}": res.normalised})
        log.info("[%s] word importance (received=%s): best layer %d, rho %.3f (SD %.3f) over %d units; ceiling %.3f "
                 "(%.1f%%); baselines %s", group, mode, res.best_layer, res.best_rho, res.layer_sd[res.best_layer],
                 res.layer_n[res.best_layer], res.ceiling, res.normalised,
                 ", ".join(f"{k} {v:.3f}" for k, v in res.baselines.items()))
    headline = results["mean"]
    summary.update({f"wi_ceiling_{group}": headline.ceiling, f"wi_n_units_{group}": len(headline.units),
                    **{f"wi_baseline_{k}_{group}": v for k, v in headline.baselines.items()}})
    table = pd.concat([r.to_frame().assign(received=m) for m, r in results.items()], ignore_index=True)
    sink.table(f"tables/word_importance_{group}.csv", table, index=False)
    sink.figure(f"figures/word_importance_{group}.png", word_importance_curves(results, f"word importance, {group}"))
    sink.figure(f"figures/word_importance_example_{group}.png", importance_strip(headline, corpus, group))
    return summary


def _log_fmri(sink: RunLog, store, cohorts, score: str, corpus) -> dict[str, float]:
    """The fMRI curves ``fmri_r2_<region>_<group>`` and ``tables/fmri_resemblance.csv``; returns the summary."""
    results, summary = fmri_summary(store, cohorts, score, corpus)
    for (region, group), res in results.items():
        sink.curve(f"fmri_r2_{region}_{group}", res.layer_r2)
        log.info("[%s] fMRI %s: resemblance %.2f%% (best layer %d, R2 %.5f, ceiling %.5f, %d subjects)",
                 group, region, res.resemblance, res.best_layer, res.r2_model, res.ceiling, len(res.subjects))
    sink.table("tables/fmri_resemblance.csv", fmri_table(results), index=False)
    return summary


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
