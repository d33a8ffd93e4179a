"""Benchmark: human resemblance of LLaMA-30B (60 layers x L1 and L2) against a naive reference.

The naive reference does what the released scripts do: build each regression from Python lists
and fit one scikit-learn LinearRegression per subject and layer. It runs on a few layers; the fast
path is timed on the same layers and on all 60. File loading is excluded from both.
The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression

from attnhuman.analysis.least_squares import ceiling_r2, layer_r2
from attnhuman.analysis.resemblance import group_resemblance
from attnhuman.attention.store import load_attention
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohorts
from attnhuman.humans.reading_brain.source import load_corpus


def naive_r2(store, cohort, corpus, layers: list[int]) -> np.ndarray:
    """Released-scripts style: Python lists, one LinearRegression per (layer, subject)."""
    kept = np.flatnonzero(cohort.keep)
    offsets = corpus.offsets
    targets = cohort.targets.T.tolist()                  # per subject, kept cells in order
    out = np.empty((len(layers), len(cohort.subjects)))
    for li, layer in enumerate(layers):
        heads = store.attention[layer].astype(float).tolist()
        x = []
        for k in kept:
            n = int(corpus.n_words[k])
            cell = int(offsets[k])
            for i in range(n):
                for j in range(i + 1):
                    x.append([head[cell] for head in heads])
                    cell += 1
        for s in range(len(cohort.subjects)):
            model = LinearRegression().fit(x, targets[s])
            out[li, s] = model.score(x, targets[s])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with reading_brain/ and released_attention/")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 30], help="layers for the naive comparison")
    parser.add_argument("--repeat", type=int, default=3, help="fast-path repetitions (best time is kept)")
    args = parser.parse_args()
    data = Path(args.data)
    release = Release(data / "reading_brain", download=False)
    corpus = load_corpus(release)
    cohorts, _ = load_cohorts(release, corpus, exclude={"L1": ["L1_S01"]})
    store = load_attention(data / "released_attention" / "llama-30b" / "packed_plain.npz", corpus)

    def best(fn):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        return min(times), result

    full_s, _ = best(lambda: [group_resemblance(store, c) for c in cohorts.values()])
    fast_s, fast = best(lambda: [np.concatenate([layer_r2(store.attention[args.layers][:, :, c.cell_mask], c.targets),
                                                 ceiling_r2(c.mean, c.targets)[None]]) for c in cohorts.values()])
    start = time.perf_counter()
    naive = [np.concatenate([naive_r2(store, c, corpus, args.layers),
                             [[LinearRegression().fit(np.asarray(c.mean)[:, None], y).score(np.asarray(c.mean)[:, None], y)
                               for y in c.targets.T]]]) for c in cohorts.values()]
    naive_s = time.perf_counter() - start
    diff = max(float(np.abs(a - b).max()) for a, b in zip(fast, naive))
    per_layer_naive = naive_s / len(args.layers)
    print(f"{'':28s}{'naive (sklearn, lists)':>24s}{'attnhuman':>14s}{'ratio':>10s}")
    print(f"{f'layers {args.layers}, L1+L2':28s}{naive_s:23.2f}s{fast_s:13.4f}s{naive_s / fast_s:9.0f}x")
    print(f"{'60 layers, L1+L2':28s}{per_layer_naive * 60:22.1f}s*{full_s:13.4f}s{per_layer_naive * 60 / full_s:9.0f}x")
    print("* extrapolated from the compared layers; max |R2 difference| on compared layers: "
          f"{diff:.2e}")
    print(json.dumps({"fast_s": round(fast_s, 5), "naive_s": round(naive_s, 3), "layers_compared": args.layers,
                      "speedup": round(naive_s / fast_s, 1), "full_analysis_s": round(full_s, 4),
                      "naive_full_extrapolated_s": round(per_layer_naive * 60, 1), "max_abs_r2_diff": diff}))


if __name__ == "__main__":
    main()
