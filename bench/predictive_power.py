"""Benchmark: predictive power (docs/method.md, "Reading times from model predictions") on GECO against a naive
per-word, per-fold statsmodels reference.

Human side: the real GECO English total reading times (14 readers, the 5,000 sentences of 2 words or more, one text)
read by data=geco's loader, as eye-tracking ReadingTimes. Model side: a seeded random surprisal-like predictor of 30
layers (gamma, NaN at each sentence's first word), so DeltaLL is chance level by construction; the baseline and the
selection are real. Timed: the whole analysis, cross-validated and in-sample, every layer, 1,000 bootstrap resamples
each. The naive reference builds the design word by word, fits statsmodels OLS per fold and layer, scores held-out
words with scipy.stats.norm.logpdf and resamples units in a Python loop; it runs on a few layers and is extrapolated
by layer count. File loading is excluded from both. The last line printed is a JSON object.

Measured (2 cores shared with other work, load about 5): cv + insample for 30 layers with 1,000 resamples each,
target='mean', 0.40 s (first call, filling the zipf cache: 0.93 s); target='subject' (about 300,000 observations)
4.7 s; the naive reference, cv only, 127 s extrapolated from 2 layers: speed-up about 320; max difference 1e-16.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from hydra import compose, initialize_config_dir
from scipy.stats import norm

from attnhuman.analysis.predictive_power import predictive_power, strip_punctuation
from attnhuman.app.factories import build
from attnhuman.humans.reading_times import ReadingTimes

CONF = Path(__file__).resolve().parents[1] / "conf"


def geco_times(data: str):
    """data=geco as the job builds it (conf/data/geco.yaml): the corpus and L1's TRT as ReadingTimes."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["data=geco", f"paths.data={Path(data).resolve()}"])
    source = build(cfg.data, "data")
    corpus = source.corpus()
    measures = source.word_measures(corpus, ["L1"])["L1"]
    return corpus, ReadingTimes("L1", measures.measure, "eye_tracking", measures.subjects, measures.values)


def naive(corpus, times, predictor, result, n_boot=1000):
    """Per-layer (layers of ``predictor``) cv DeltaLL and interval on ``result``'s words: a design built word by word,
    statsmodels OLS per fold, norm.logpdf per held-out word, a resampling loop over units."""
    from wordfreq import zipf_frequency

    flat = [w for unit in corpus.words for w in unit]
    position = np.concatenate([np.arange(n) for n in corpus.n_words])
    base, y = [], []
    for g, t in zip(result.word_index, result.word_target):
        row = [1.0]
        for j in (0, 1):                                    # the word, then its previous word (spillover 1)
            s = strip_punctuation(flat[g - j])
            row += [len(s), zipf_frequency(s.lower(), "en")] + ([len(s) * zipf_frequency(s.lower(), "en"),
                                                                  position[g]] if j == 0 else [])
        base.append(row)
        y.append(t)
    base, y, fold, unit = np.array(base), np.array(y), result.word_fold, result.word_unit
    out = []
    for layer in predictor:
        gain = np.empty(y.size)
        full = np.column_stack([base, layer[result.word_index], layer[result.word_index - 1]])
        for f in range(10):
            train, test = fold != f, fold == f
            ll = []
            for x in (base, full):
                fit = sm.OLS(y[train], x[train]).fit()
                sd = np.sqrt(fit.ssr / train.sum())
                ll.append(np.array([norm.logpdf(y[i], x[i] @ fit.params, sd) for i in np.flatnonzero(test)]))
            gain[test] = ll[1] - ll[0]
        units = np.unique(unit)
        per_unit = [gain[unit == u] for u in units]
        draws = np.random.default_rng(0).integers(0, units.size, (n_boot, units.size))
        boot = [np.concatenate([per_unit[d] for d in row]).mean() for row in draws]
        out.append([gain.mean(), *np.percentile(boot, [2.5, 97.5])])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with geco_en/")
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--naive-layers", type=int, default=2, help="layers the naive reference scores")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpus, times = geco_times(args.data)
    n = int(corpus.word_offsets[-1])
    predictor = np.random.default_rng(args.seed).gamma(2.0, 2.0, (args.layers, n))
    predictor[:, corpus.word_offsets[:-1]] = np.nan

    def analysis(target="mean"):
        return [predictive_power(corpus, times, predictor, score=score, target=target) for score in ("cv", "insample")]

    runs = []
    for _ in range(3):                       # the first call also fills the zipf cache of the corpus's words
        start = time.perf_counter()
        cv, insample = analysis()
        runs.append(time.perf_counter() - start)
    fast_s = min(runs)
    start = time.perf_counter()
    analysis("subject")
    subject_s = time.perf_counter() - start

    start = time.perf_counter()
    reference = naive(corpus, times, predictor[:args.naive_layers], cv)
    naive_s = (time.perf_counter() - start) * args.layers / args.naive_layers
    ours = np.column_stack([cv.delta_ll, cv.low, cv.high])[:args.naive_layers]
    diff = float(np.abs(ours - reference).max())

    print(f"GECO L1 TRT: {len(times.subjects)} readers, {len(corpus)} sentences, {n} words; predictor "
          f"{predictor.shape} (random)")
    print(f"words analysed: {cv.n_words} in {cv.n_units} sentences; excluded: {cv.excluded}; dropped: {cv.dropped}")
    print(f"{'quantity':36s} {'value':>9s}")
    for name, value in (("cv DeltaLL, best layer", cv.delta_ll[cv.best_layer]),
                        ("cv DeltaLL, mean over layers", cv.delta_ll.mean()),
                        ("insample DeltaLL, mean over layers", insample.delta_ll.mean()),
                        ("cv interval width, mean", (cv.high - cv.low).mean())):
        print(f"{name:36s} {value:9.5f}")
    print(f"{'timing':36s} {'s':>9s}")
    print(f"{'cv + insample (first call)':36s} {runs[0]:9.3f}")
    print(f"{'cv + insample (best of 3)':36s} {fast_s:9.3f}")
    print(f"{'cv + insample, target=subject':36s} {subject_s:9.3f}")
    print(f"{f'naive, {args.naive_layers} layers, extrapolated':36s} {naive_s:9.2f}")
    print(f"{'speedup':36s} {naive_s / fast_s:9.0f}")
    print(f"{'max diff fast vs naive (cv, interval)':36s} {diff:9.1e}")
    print(json.dumps({"analysis_s": round(fast_s, 4), "first_call_s": round(runs[0], 4),
                      "subject_s": round(subject_s, 4), "naive_s_extrapolated": round(naive_s, 2),
                      "speedup": round(naive_s / fast_s, 1), "max_diff": diff, "words": cv.n_words,
                      "layers": args.layers}))


if __name__ == "__main__":
    main()
