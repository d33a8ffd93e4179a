"""Benchmark: the bootstrap intervals of docs/method.md, "Uncertainty", against a naive resample-by-resample loop.

Saccades: the released LLaMA-30B attention on Reading Brain (60 layers, L1 and L2 proxy cohorts), intervals over
subjects. Word importance: GECO's real reading times (14 readers, 5,000 sentences) against seeded random attention of
30 layers (as bench/word_importance.py), intervals over units. Both sides draw the same resamples, so their intervals
must be equal; the naive loop indexes the arrays once per resample. Peak memory of the vectorised path is measured
with tracemalloc. The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from word_importance import geco_data

from attnhuman.analysis import bootstrap
from attnhuman.analysis.resemblance import group_resemblance
from attnhuman.analysis.word_importance import relative, word_importance
from attnhuman.attention.store import load_attention
from attnhuman.corpus import cell_offsets
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohorts
from attnhuman.humans.reading_brain.source import load_corpus


def naive_subjects(r2, ceiling, resamples, seed):
    draws = np.random.default_rng(seed).integers(0, r2.shape[1], size=(resamples, r2.shape[1]))
    stats = [100 * r2[:, idx].mean(axis=1).max() / ceiling[idx].mean() for idx in draws]
    return tuple(np.percentile(stats, [2.5, 97.5]))


def naive_units(rho, ceiling, resamples, seed):
    draws = np.random.default_rng(seed).integers(0, rho.shape[1], size=(resamples, rho.shape[1]))
    stats = [100 * np.nanmax(np.nanmean(rho[:, idx], axis=1)) / np.nanmean(np.nanmean(ceiling[:, idx], axis=1))
             for idx in draws]
    return tuple(np.percentile(stats, [2.5, 97.5]))


def timed(fn, repeat: int = 3):
    """(result, best seconds, peak MiB of one call)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return result, min(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with reading_brain/, released_attention/, geco_en/")
    parser.add_argument("--resamples", type=int, default=bootstrap.RESAMPLES)
    args = parser.parse_args()
    data = Path(args.data)
    release = Release(data / "reading_brain", download=False)
    corpus = load_corpus(release)
    cohorts, _ = load_cohorts(release, corpus)
    store = load_attention(data / "released_attention" / "llama-30b" / "packed_plain.npz", corpus)
    rows = []
    for group, cohort in cohorts.items():
        res = group_resemblance(store, cohort)
        fast, fast_s, peak = timed(lambda: bootstrap.over_subjects(res.r2, res.ceiling_r2, args.resamples))
        start = time.perf_counter()
        slow = naive_subjects(res.r2, res.ceiling_r2, args.resamples, bootstrap.SEED)
        slow_s = time.perf_counter() - start
        assert np.allclose(fast.percent, slow, rtol=1e-12), (fast.percent, slow)
        rows.append(dict(what=f"saccade {group}", shape=f"{res.r2.shape[0]} layers x {res.r2.shape[1]} subjects",
                         value=res.resemblance, low=fast.percent[0], high=fast.percent[1], fast_s=fast_s,
                         naive_s=slow_s, peak_mib=peak))

    geco = geco_data(args.data)
    words_corpus = geco.corpus()
    measures = geco.word_measures(words_corpus, ["L1"])["L1"]
    rel, _ = relative(measures.values)
    n_words = words_corpus.n_words
    attention = np.random.default_rng(0).random((30, 9, int(cell_offsets(n_words)[-1])), dtype=np.float32)
    wi = word_importance(attention, n_words, rel, list(words_corpus.words))
    fast, fast_s, peak = timed(lambda: bootstrap.over_units(wi.unit_rho, wi.ceiling_rho, args.resamples))
    start = time.perf_counter()
    slow = naive_units(wi.unit_rho, wi.ceiling_rho, args.resamples, bootstrap.SEED)
    slow_s = time.perf_counter() - start
    assert np.allclose(fast.percent, slow, rtol=1e-10), (fast.percent, slow)
    rows.append(dict(what="word importance L1 (GECO, random attention)",
                     shape=f"{wi.unit_rho.shape[0]} layers x {wi.unit_rho.shape[1]} units x {wi.ceiling_rho.shape[0]} readers",
                     value=wi.normalised, low=fast.percent[0], high=fast.percent[1], fast_s=fast_s, naive_s=slow_s,
                     peak_mib=peak))

    print(f"{args.resamples} resamples; intervals equal to the naive loop's")
    print(f"{'score':45s} {'shape':38s} {'value':>7s} {'95% interval':>17s} {'fast s':>8s} {'naive s':>8s} "
          f"{'ratio':>6s} {'peak MiB':>9s}")
    for r in rows:
        print(f"{r['what']:45s} {r['shape']:38s} {r['value']:7.2f} [{r['low']:6.2f}, {r['high']:6.2f}] "
              f"{r['fast_s']:8.4f} {r['naive_s']:8.3f} {r['naive_s'] / r['fast_s']:6.0f}x {r['peak_mib']:9.1f}")
    print(json.dumps({"resamples": args.resamples, "rows": rows}))


if __name__ == "__main__":
    main()
