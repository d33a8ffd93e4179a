"""Benchmark: word importance (docs/method.md, "Word importance from reading times") on GECO against a naive per-unit reference.

Human side: the real GECO English reading times (14 readers, the 5,000 sentences of 2 words or more), TRT
from ``geco_en/pp*-relfix-feats.csv.gz`` read by data=geco's loader (relFix recomputed from TRT). Model side: a seeded random
attention array of 30 layers x 9 heads (float32) on GECO's cell index; the real model attention is
not needed for timing, so the layer curve printed is chance level by construction (the ceiling and
the baselines are real). The naive reference (loops over units, scipy.stats.spearmanr per unit and
layer, leave-one-subject-out loops) runs on a subset of units and is extrapolated by unit count.
File loading is excluded from both. The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import string
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from scipy.stats import spearmanr
from wordfreq import zipf_frequency

from attnhuman.analysis.word_importance import relative, word_importance
from attnhuman.app.factories import build
from attnhuman.corpus import cell_offsets

CONF = Path(__file__).resolve().parents[1] / "conf"


def geco_data(data: str):
    """data=geco as the job builds it (conf/data/geco.yaml), reading ``<data>/geco_en``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["data=geco", f"paths.data={Path(data).resolve()}"])
    return build(cfg.data, "data")


def naive(attention, n_words, rel, words, units):
    """Per-unit loops with scipy: layer rho sums / counts, baselines, leave-one-subject-out per subject."""
    offsets = cell_offsets(n_words)
    n_layers, n_subj = attention.shape[0], rel[0].shape[0]
    rho = np.full((n_layers, len(units)), np.nan)
    base = {b: np.full(len(units), np.nan) for b in ("length", "frequency", "position")}
    loso = [[] for _ in range(n_subj)]

    def rho_of(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        return np.nan if np.all(x == x[0]) or np.all(y == y[0]) else spearmanr(x, y).statistic

    for u, k in enumerate(units):
        n = int(n_words[k])
        rows = [r for r in rel[k] if not np.isnan(r).any()]
        h = np.mean(rows, axis=0)
        i, j = np.tril_indices(n)
        for layer in range(n_layers):
            a = np.zeros((n, n))
            a[i, j] = attention[layer, :, offsets[k]:offsets[k + 1]].astype(float).mean(0)
            rho[layer, u] = rho_of([a[c:, c].mean() for c in range(n)], h)
        feats = {"length": [len(w) for w in words[k]], "position": list(range(n)),
                 "frequency": [zipf_frequency(w.lower().strip(string.punctuation), "en") for w in words[k]]}
        for b, f in feats.items():
            base[b][u] = rho_of(f, h)
        for s in range(n_subj):
            others = [rel[k][t] for t in range(n_subj) if t != s and not np.isnan(rel[k][t]).any()]
            if not np.isnan(rel[k][s]).any() and others:
                loso[s].append(rho_of(rel[k][s], np.mean(others, axis=0)))
    return rho, base, loso


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with geco_en/")
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--naive-units", type=int, default=200, help="units the naive reference scores")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = geco_data(args.data)
    corpus = data.corpus()                  # the loader of data=geco: sentences of 2 words or more
    measures = data.word_measures(corpus, ["L1"])["L1"]
    readers, n_words, words = measures.subjects, corpus.n_words, list(corpus.words)
    rel, dropped = relative(measures.values)
    rng = np.random.default_rng(args.seed)
    attention = rng.random((args.layers, args.heads, int(cell_offsets(n_words)[-1])), dtype=np.float32)

    times = []
    for _ in range(3):                     # the first call also fills wordfreq's caches (about 0.2 s)
        start = time.perf_counter()
        result = word_importance(attention, n_words, rel, words)
        times.append(time.perf_counter() - start)
    fast_s = min(times)

    subset = result.units[np.linspace(0, result.units.size - 1, args.naive_units).astype(int)]
    keep = np.zeros(n_words.size, bool)
    keep[subset] = True
    start = time.perf_counter()
    rho, base, loso = naive(attention, n_words, rel, words, subset)
    naive_s = (time.perf_counter() - start) * result.units.size / subset.size
    small = word_importance(attention, n_words, rel, words, keep=keep)
    ceiling = np.mean([np.nanmean(r) for r in loso if np.isfinite(r).any()])
    diff = max(np.abs(small.layer_rho - np.nanmean(rho, 1)).max(), abs(small.ceiling - ceiling),
               *(abs(small.baselines[b] - np.nanmean(v)) for b, v in base.items()))

    per_reader = np.bincount([s for s, _ in dropped], minlength=len(readers))
    print(f"GECO: {len(readers)} readers, {n_words.size} sentences, {int(n_words.sum())} words, "
          f"{int(cell_offsets(n_words)[-1])} cells; attention {attention.shape} float32 (random)")
    print(f"zero-sum (reader, sentence) pairs left out: {len(dropped)} "
          f"({', '.join(f'{r} {c}' for r, c in zip(readers, per_reader))})")
    print(f"units scored: {result.units.size} (skipped: {n_words.size - result.units.size}, < 2 words or no reader)")
    print(f"{'quantity':34s} {'value':>9s}")
    for name, value in (("ceiling (leave one reader out)", result.ceiling),
                        *((f"baseline {b}", v) for b, v in result.baselines.items()),
                        (f"random attention, best layer {result.best_layer}", result.best_rho),
                        ("random attention, layer SD mean", float(result.layer_sd.mean())),
                        ("units constant (h or m), layer 0", float(result.n_constant[0]))):
        print(f"{name:34s} {value:9.4f}")
    print(f"{'timing':34s} {'s':>9s}")
    print(f"{'word_importance (first call)':34s} {times[0]:9.3f}")
    print(f"{'word_importance (best of 3)':34s} {fast_s:9.3f}")
    print(f"{f'naive, {subset.size} units, extrapolated':34s} {naive_s:9.2f}")
    print(f"{'speedup':34s} {naive_s / fast_s:9.0f}")
    print(f"{'max diff fast vs naive (subset)':34s} {diff:9.1e}")
    print(json.dumps({"word_importance_s": round(fast_s, 4), "first_call_s": round(times[0], 4),
                      "naive_s_extrapolated": round(naive_s, 2),
                      "speedup": round(naive_s / fast_s, 1), "max_diff": float(diff), "naive_units": int(subset.size),
                      "units_scored": int(result.units.size), "ceiling": round(result.ceiling, 4),
                      "baselines": {b: round(v, 4) for b, v in result.baselines.items()}}))


if __name__ == "__main__":
    main()
