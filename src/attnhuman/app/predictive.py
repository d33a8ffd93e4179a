"""A job's predictive power (docs/method.md, "Reading times from model predictions"): each word prediction the source
gave, against each reading measure of each group, held out and in-sample; metrics, curves, a per-word table, a figure
and the words left out in the exclusion report."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.analysis.predictive_power import PowerOptions, predictive_power
from attnhuman.app.tracking import RunLog
from attnhuman.corpus import Corpus
from attnhuman.humans.cohort import ExclusionReport
from attnhuman.humans.reading_times import ReadingTimes
from attnhuman.reporting.run_figures import predictive_power_figure

log = logging.getLogger(__name__)


def log_predictive_power(sink: RunLog, corpus: Corpus, times: dict[str, dict[str, ReadingTimes]],
                         predictions: dict[str, np.ndarray], options: PowerOptions,
                         report: ExclusionReport) -> dict[str, float]:
    """Every ``options.predictors`` of ``predictions`` against every reading measure of ``times``; returns the summary
    metrics (a per-layer predictor's are those of its best held-out layer, also the in-sample ones)."""
    summary = {}
    for group, measures in times.items():
        for measure, rt in measures.items():
            rows = []
            for name in options.predictors:
                cv = predictive_power(corpus, rt, predictions[name], **options.settings("cv"))
                insample = predictive_power(corpus, rt, predictions[name], **options.settings("insample"))
                summary.update(_summary(sink, name, measure, group, cv, insample))
                _report(report, group, measure, name, cv)
                sink.figure(metrics.predictive_figure(name, measure, group),
                            predictive_power_figure(name, cv, insample, f"{name} for {group} {measure}"))
                rows.append(pd.DataFrame({
                    "predictor": name, "layer": -1 if cv.best_layer is None else cv.best_layer,
                    "word_index": cv.word_index, "unit": [corpus.label(k) for k in cv.word_unit],
                    "word": [corpus.words[k][i - corpus.word_offsets[k]] for k, i in zip(cv.word_unit, cv.word_index)],
                    "target_ms": cv.word_target,
                    "value": cv.word_predictor, "fold": cv.word_fold}))
            if rows:
                sink.table(metrics.predictive_table(measure, group), pd.concat(rows, ignore_index=True), index=False)
    return summary


def _summary(sink: RunLog, name: str, measure: str, group: str, cv, insample) -> dict[str, float]:
    at = 0 if cv.best_layer is None else cv.best_layer
    out = {metrics.pp_dll_cv(name, measure, group): cv.delta_ll[at],
           metrics.pp_dll_cv_low(name, measure, group): cv.low[at],
           metrics.pp_dll_cv_high(name, measure, group): cv.high[at],
           metrics.pp_dll_insample(name, measure, group): insample.delta_ll[at],
           metrics.pp_dll_insample_low(name, measure, group): insample.low[at],
           metrics.pp_dll_insample_high(name, measure, group): insample.high[at],
           metrics.pp_r(name, measure, group): cv.r[at], metrics.pp_n_words(name, measure, group): cv.n_words,
           metrics.pp_n_excluded(name, measure, group): sum(cv.excluded.values())}
    if cv.best_layer is not None:
        sink.curve(metrics.pp_dll_cv(name, measure, group), cv.delta_ll)
        sink.curve(metrics.pp_dll_insample(name, measure, group), insample.delta_ll)
        out[metrics.pp_best_layer(name, measure, group)] = cv.best_layer
    log.info("[%s] predictive power of %s for %s%s: DeltaLL held out %.4f [%.4f, %.4f], in-sample %.4f, r %.3f, "
             "over %d words (%d units; the words left out, by reason: %s)", group, name, measure,
             "" if cv.best_layer is None else f" (best layer {cv.best_layer})", cv.delta_ll[at], cv.low[at],
             cv.high[at], insample.delta_ll[at], cv.r[at], cv.n_words, cv.n_units, metrics.EXCLUSIONS)
    return out


def _report(report: ExclusionReport, group: str, measure: str, name: str, result) -> None:
    """The words and observations the analysis of ``name`` left out, one entry per reason."""
    for level, counts in (("word", result.excluded), ("observation", result.dropped)):
        for reason, n in counts.items():
            if n:
                report.add(group, level, f"{n} {level}s", f"predictive power of {name} for {measure}: {reason}",
                           count=n)

