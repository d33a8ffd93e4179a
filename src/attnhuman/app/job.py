"""One job: human data and the run's attention, every analysis, everything logged to MLflow (rank 0 only)."""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman import __version__, identity, metrics
from attnhuman.analysis import bootstrap
from attnhuman.analysis.attention_entropy import attention_entropy
from attnhuman.analysis.fmri import fmri_summary, fmri_table
from attnhuman.analysis.resemblance import GroupResemblance, score_group
from attnhuman.analysis.trivial import model_reliance
from attnhuman.analysis.word_importance import RECEIVED, relative, word_importance
from attnhuman.app.claims import Heartbeat, claim, recover_stale, where_tags
from attnhuman.app.errors import CompactDataError
from attnhuman.app.predictive import log_predictive_power
from attnhuman.app.spec import HumanSpec, JobSpec, job_spec
from attnhuman.app.tracking import RunLog, finished_run, prepare_store, sweep_id, sweep_tags
from attnhuman.attention.extraction import measures, ranks
from attnhuman.attention.source import SourceOutput
from attnhuman.comparison.scores import flag_text, scores
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cache import HumansCache
from attnhuman.humans.cache import cache_key as humans_cache_key
from attnhuman.humans.cohort import Cohort, ExclusionReport
from attnhuman.humans.reading_times import ReadingTimes
from attnhuman.humans.word_table import WordMeasures
from attnhuman.reporting.formats import headline
from attnhuman.reporting.run_figures import importance_strip, layerwise_resemblance, word_importance_curves

log = logging.getLogger(__name__)
# The modules whose source defines a job's numbers: their digest is part of the run identity.
JOB_CODE = ("corpus.py", "shapes.py", "metrics.py", "humans", "attention", "analysis", "app/job.py")


@dataclass
class Humans:
    """What the job compares models with: the corpus, saccade and fMRI cohorts, exclusions, provenance tags."""

    corpus: Corpus
    cohorts: dict[str, Cohort]
    report: ExclusionReport
    fmri: dict[str, dict[str, Cohort]]
    tags: dict[str, str]
    words: dict[str, WordMeasures] = field(default_factory=dict)        # raw measure per word, per group
    times: dict[str, dict[str, ReadingTimes]] = field(default_factory=dict)   # reading times per group and measure
    importance: dict[str, list] = field(default_factory=dict)          # relative fixation time per unit, per group


def load_humans(spec: HumanSpec, fingerprint: str | None = None) -> Humans:
    """The human data of ``spec`` for its groups, parsed once per data contents, settings and code
    (``<paths.cache>/humans``)."""
    data, groups = spec.data, list(spec.groups)
    corpus = data.corpus()
    cache = HumansCache(spec.cache / "humans")
    key = humans_cache_key(spec.humans_hash, fingerprint or data.fingerprint())
    cached = cache.load(key)
    if cached is not None:
        log.info("Human data from the cache (%s)", cache.path(key))
        return _with_words(Humans(corpus, *cached), spec)
    cohorts, report = data.cohorts(corpus, groups)
    fmri = {}
    if spec.fmri is not None:
        if data.has_fmri:
            fmri = data.fmri_cohorts(corpus, groups, report)
        else:
            log.info("analysis.fmri: skipped, data=%s has no fMRI recordings (only data=reading_brain).", spec.data_name)
    humans = Humans(corpus, cohorts, report, fmri, data.provenance())
    cache.save(key, cohorts, report, fmri, humans.tags)
    return _with_words(humans, spec)


def _with_words(humans: Humans, spec: HumanSpec) -> Humans:
    """The groups' word measures and relative fixation times (docs/method.md, "Word importance from reading times"),
    each (subject, unit) whose times sum to 0 reported."""
    humans.words = spec.data.word_measures(humans.corpus, list(spec.groups))
    humans.times = spec.data.reading_times(humans.corpus, list(spec.groups))
    for group, words in humans.words.items():
        humans.importance[group], zero = relative(words.values)
        for s, k in zero:
            humans.report.add(group, "subject_unit", f"{words.subjects[s]} {humans.corpus.label(k)}",
                              f"{words.measure} sums to 0: no relative fixation time for this subject")
    return humans


def _check_power(spec: JobSpec, humans: Humans) -> None:
    """Refuse, before any run exists, predictive power that cannot be computed: more folds than units."""
    if humans.times and spec.predictive.predictors and len(humans.corpus) < spec.predictive.folds:
        raise DataError(f"predictive.folds={spec.predictive.folds}: the data has {len(humans.corpus)} units for the "
                        "held-out predictive power of its reading times; set predictive.folds to at most "
                        f"{len(humans.corpus)} (2 or more).")


def preflight(spec: JobSpec, here: bool = True) -> list[str]:
    """What one job needs and lacks (a writable cache, data files and columns, a checkpoint, room for its weights
    ``here``), found without reading any data or weights."""
    return (unwritable_cache(spec.humans.cache)          # the others may write digests there
            or spec.humans.data.missing(list(spec.humans.groups)) + spec.source.unavailable(here))


def unwritable_cache(folder: Path) -> list[str]:
    """``paths.cache`` cannot be written: one line saying so (it is created if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".writable-"):
            return []
    except OSError as e:
        return [f"paths.cache={folder} cannot be written ({e.strerror or e}): it keeps parsed human data, "
                "extractions, weight digests and tokenizers. Make it writable, or set paths.cache (default "
                "$XDG_CACHE_HOME/attnhuman) to a writable folder."]


def run_identity(spec: JobSpec) -> dict[str, str]:
    """The job's identity: its settings (allow-listed), its data's and attention input's contents, and the code that
    computes its numbers (:data:`JOB_CODE`); ``run_identity`` is their digest."""
    parts = {"config_hash": spec.config_hash, "data_fingerprint": spec.humans.data.fingerprint(),
             "attention_fingerprint": spec.source.fingerprint(), "code_digest": identity.of_code(*JOB_CODE)[:16]}
    return {**parts, "run_identity": identity.of_value(parts)[:16]}


def code_tags() -> dict[str, str]:
    """Which code made a run: the package version and, from a git checkout, the commit."""
    commit = identity.git_commit()
    return {"attnhuman_version": __version__, **({"git_commit": commit} if commit else {})}


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
    """Run the job ``cfg`` composes; returns its summary metrics, or None when a FINISHED run has its identity.

    Every setting is checked and everything the job needs is looked for before any data is read; the human data is
    read and checked (or found in the cache) before an MLflow run exists: a bad input leaves no FAILED run.
    """
    spec = job_spec(cfg)
    missing = preflight(spec)
    if missing:
        raise CompactDataError(f"{spec.name} cannot run:\n" + "\n".join(f"  {m}" for m in missing))
    if not ranks.is_main():
        return _assist(spec)
    tracking = spec.tracking
    experiment_id = prepare_store(tracking)
    client = MlflowClient(tracking.uri)
    ident = run_identity(spec)
    previous = finished_run(client, experiment_id, ident["run_identity"])
    skip, run_id = previous is not None and not spec.rerun, None
    if skip:
        log.info("Skipping %s: FINISHED run %s has the same settings, data, attention input and code "
                 "(rerun=true runs it again).", spec.name, previous.info.run_id)
    else:
        try:                                                # every data check before a run exists
            humans = load_humans(spec.humans, ident["data_fingerprint"])
            _check_power(spec, humans)
        except DataError as e:
            raise CompactDataError(f"{spec.name} cannot run:\n  {e}") from e
        recover_stale(client, experiment_id, f"tags.run_identity = '{ident['run_identity']}'", tracking.stale_after_s)
        tags = {**ident, **code_tags(), "humans_hash": spec.humans.humans_hash, **spec.tags,
                **sweep_tags(client, experiment_id, _sweep_id()), **where_tags()}
        run_id = client.create_run(experiment_id, run_name=spec.name, tags=tags).info.run_id
        holder = claim(client, experiment_id, run_id, ident["run_identity"], spec.rerun)
        if holder is not None:
            skip = True
            log.info("Skipping %s: run %s (%s, %s) has the same job.", spec.name, holder.info.run_id,
                     holder.info.status, holder.data.tags.get("host", "?"))
    if spec.source.agree(skip):
        return None
    log.info("MLflow run %s (%s) in %s", spec.name, run_id, tracking.uri)
    try:
        with Heartbeat(client, run_id, tracking.heartbeat_s):
            summary = _analyze(spec, RunLog(client, run_id, _output_dir()), humans)
    except BaseException as e:
        client.set_tag(run_id, metrics.DESCRIPTION, f"FAILED: {failure_reason(e)}")
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return summary


def failure_reason(error: BaseException) -> str:
    """One line: the error's type and the first line of its message (``KeyboardInterrupt``: interrupted)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


def _assist(spec: JobSpec) -> None:
    """A source=deepspeed rank other than 0: extract this rank's heads for rank 0; never log."""
    if spec.source.agree(None):
        return None
    spec.source.load(spec.humans.data.corpus())
    return None


def _analyze(spec: JobSpec, sink: RunLog, humans: Humans) -> dict:
    sink.params(spec.params)
    if (sink.out / ".hydra").is_dir():
        sink.folder(sink.out / ".hydra", ".hydra")

    log.info("Left out: %s (every entry with its reason: %s)", humans.report.summary(), metrics.EXCLUSIONS)
    log.debug("%s", humans.report.format())
    sink.tags({**humans.tags, metrics.CORPUS: spec.humans.corpus_label, metrics.MEASURE: spec.measure})
    left_out = {metrics.n_excluded(level, group): n for (level, group), n in humans.report.counts().items()}
    output: SourceOutput = spec.source.load(humans.corpus)
    store = output.store                                # None: a source of word predictions alone
    if store is not None:
        measures.check_shape(store, spec.model, output.tags.get("attention_input", spec.source_name), spec.measure)
    sink.tags(output.tags)
    sink.metrics(output.metrics)
    analysis_start = time.perf_counter()
    summary, results = (_attention_analyses(sink, spec, humans, store) if store is not None else ({}, {}))
    predictions = dict(output.predictions.values)
    if "attention_entropy" in spec.predictive.predictors:
        predictions["attention_entropy"] = attention_entropy(store.attention, humans.corpus)
    for item, reason in output.predictions.notes:
        for group in humans.times:
            humans.report.add(group, "word", item, reason, action="kept")
    summary.update(log_predictive_power(sink, humans.corpus, humans.times, predictions, spec.predictive,
                                        humans.report))
    summary[metrics.ANALYSIS_S] = time.perf_counter() - analysis_start      # the scoring itself (bench/sweep.py)
    summary.update(left_out)                                 # the data's; each analysis' words: pp_n_excluded_*
    found = scores(summary)
    sink.metrics({**summary, **{s.key: s.value for s in found}})     # the headlines again, under names the UI shows
    sink.tags({metrics.FLAGS: flag_text(found), metrics.DESCRIPTION: headline(found)})
    sink.table(metrics.EXCLUSIONS, humans.report.to_frame(), index=False)

    if results:
        sink.figure(metrics.LAYERWISE_FIGURE, layerwise_resemblance(results, f"{spec.name}: layerwise human resemblance"))
    if store is not None:
        sink.file(store.save(sink.out / metrics.ATTENTION), str(Path(metrics.ATTENTION).parent))
    if results:
        log.info("%s", format_results(spec.name, results))
    log.info("Run %s in the MLflow UI: %s", spec.name, sink.link())
    return {**output.metrics, **summary}


def _attention_analyses(sink: RunLog, spec: JobSpec, humans: Humans, store) -> tuple[dict, dict]:
    """Trivial patterns, saccade resemblance, fMRI and word importance, as the data allows; returns the summary
    metrics and the groups' resemblance."""
    reliance = model_reliance(store)             # docs/method.md, "Trivial pattern reliance"
    sink.curve(metrics.TRIVIAL_R2, reliance.layer_r2)
    if reliance.constant:
        log.warning("%s", reliance.describe_constant())
    results = {g: score_group(store, cohort, humans.corpus, spec.score) for g, cohort in humans.cohorts.items()}
    summary = {}
    for group, res in results.items():
        summary.update(_log_resemblance(sink, group, res, humans.cohorts[group], store.n_layers))
    if humans.fmri:                                     # analysis.fmri: paper-default R2 per region and group
        summary.update(_log_fmri(sink, store, humans.fmri, spec.humans.fmri, humans.corpus))
    for group, relfix in humans.importance.items():     # data with reading times
        summary.update(_log_word_importance(sink, store, humans.corpus, group, relfix))
    return summary, results


def _log_resemblance(sink: RunLog, group: str, res, cohort: Cohort, n_layers: int) -> dict[str, float]:
    """One group's curve, per-subject table and permutation test; returns its summary metrics."""
    sfx = res.suffix
    sure = bootstrap.over_subjects(res.r2, res.ceiling_r2)
    sink.curve(metrics.r2(group, sfx), res.layer_r2)
    sink.curve(metrics.pct(group, sfx), res.layer_resemblance)
    sink.curve(metrics.pct_low(group, sfx), sure.layer_low)
    sink.curve(metrics.pct_high(group, sfx), sure.layer_high)
    summary = {metrics.resemblance(group, sfx): res.resemblance, metrics.best_layer(group, sfx): res.best_layer,
               metrics.ceiling(group, sfx): res.ceiling, metrics.n_subjects(group): len(res.subjects),
               metrics.n_sentences(group): cohort.n_sentences,
               metrics.resemblance_low(group, sfx): sure.percent[0], metrics.resemblance_high(group, sfx): sure.percent[1],
               metrics.ceiling_low(group, sfx): sure.ceiling[0], metrics.ceiling_high(group, sfx): sure.ceiling[1]}
    table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"),
                         columns=pd.Index(range(n_layers), name="layer"))
    sink.table(metrics.r2_table(group, sfx), table)
    if res.permutation is not None:                 # analysis.permutation.n > 0
        perm = res.permutation
        sink.curve(metrics.perm_p(group, sfx), perm.p)
        sink.curve(metrics.perm_q(group, sfx), perm.q)
        summary.update({metrics.n_fdr_layers(group, sfx): int(perm.significant.sum()),
                        metrics.perm_immobile_sentences(group): perm.n_immobile})
        sink.table(metrics.permutation_table(group, sfx), perm.to_frame(), index=False)
        log.info("[%s] permutation test: %d permutations in %.1f s, %d of %d sentences cannot move, "
                 "%d of %d layers significant at FDR %.2f", group, len(perm.null), perm.seconds,
                 perm.n_immobile, perm.n_sentences, perm.significant.sum(), len(perm.p), perm.alpha)
    return summary


def _log_word_importance(sink: RunLog, store, corpus: Corpus, group: str, relfix: list) -> dict[str, float]:
    """Word importance with ``received`` mean (the headline) and sum: curves (step = layer), the per-layer table,
    the figure and an example unit; returns the summary metrics."""
    results = {mode: word_importance(store.attention, corpus.n_words, relfix, list(corpus.words), received=mode)
               for mode in RECEIVED}
    summary = {}
    for mode, res in results.items():
        sure = bootstrap.over_units(res.unit_rho, res.ceiling_rho)
        sink.curve(metrics.wi_rho(group, mode), res.layer_rho)
        sink.curve(metrics.wi_pct(group, mode), 100 * res.layer_rho / res.ceiling)
        sink.curve(metrics.wi_pct_low(group, mode), sure.layer_low)
        sink.curve(metrics.wi_pct_high(group, mode), sure.layer_high)
        summary.update({metrics.wi_best_rho(group, mode): res.best_rho,
                        metrics.wi_best_layer(group, mode): res.best_layer,
                        metrics.wi_sd(group, mode): float(res.layer_sd[res.best_layer]),
                        metrics.wi_normalised(group, mode): res.normalised,
                        metrics.wi_normalised_low(group, mode): sure.percent[0],
                        metrics.wi_normalised_high(group, mode): sure.percent[1],
                        metrics.wi_best_rho_low(group, mode): sure.score[0],
                        metrics.wi_best_rho_high(group, mode): sure.score[1]})
        if mode == "mean":
            summary.update({metrics.wi_ceiling_low(group): sure.ceiling[0],
                            metrics.wi_ceiling_high(group): sure.ceiling[1]})
        log.info("[%s] word importance (received=%s): best layer %d, rho %.3f (SD %.3f) over %d units; ceiling %.3f "
                 "(%.1f%%); baselines %s", group, mode, res.best_layer, res.best_rho, res.layer_sd[res.best_layer],
                 res.layer_n[res.best_layer], res.ceiling, res.normalised,
                 ", ".join(f"{k} {v:.3f}" for k, v in res.baselines.items()))
    shown = results["mean"]
    summary.update({metrics.wi_ceiling(group): shown.ceiling, metrics.wi_n_units(group): len(shown.units),
                    metrics.wi_n_subjects(group): shown.ceiling_rho.shape[0],
                    **{metrics.wi_baseline(k, group): v for k, v in shown.baselines.items()}})
    table = pd.concat([r.to_frame().assign(received=m) for m, r in results.items()], ignore_index=True)
    sink.table(metrics.word_importance_table(group), table, index=False)
    sink.figure(f"figures/word_importance_{group}.png", word_importance_curves(results, f"word importance, {group}"))
    sink.figure(f"figures/word_importance_example_{group}.png", importance_strip(shown, corpus, group))
    return summary


def _log_fmri(sink: RunLog, store, cohorts, score: str, corpus) -> dict[str, float]:
    """The fMRI curves and ``tables/fmri_resemblance.csv``; returns the summary."""
    results, summary = fmri_summary(store, cohorts, score, corpus)
    for (region, group), res in results.items():
        sure = bootstrap.over_subjects(res.r2, res.ceiling_r2)
        summary.update({metrics.fmri_resemblance_low(region, group): sure.percent[0],
                        metrics.fmri_resemblance_high(region, group): sure.percent[1],
                        metrics.fmri_ceiling_low(region, group): sure.ceiling[0],
                        metrics.fmri_ceiling_high(region, group): sure.ceiling[1]})
        sink.curve(metrics.fmri_r2(region, group), res.layer_r2)
        log.info("[%s] fMRI %s: resemblance %.2f%% (best layer %d, R2 %.5f, ceiling %.5f, %d subjects)",
                 group, region, res.resemblance, res.best_layer, res.r2_model, res.ceiling, len(res.subjects))
    sink.table(metrics.FMRI_TABLE, fmri_table(results), index=False)
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
