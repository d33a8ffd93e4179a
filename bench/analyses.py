"""Benchmark: the comparison's per-run analyses on LLaMA-30B against naive references, side by side.

- divergence (docs/method.md, "General attention divergence"): released LLaMA-30B plain vs translate, all 60 layers, js and
  sym_kl; naive: the released code's way, a Python loop over sentences and rows with scipy.
- trivial-pattern reliance (docs/method.md, "Trivial pattern reliance"): all 60 x 52 heads; naive: one scikit-learn LinearRegression
  per head on a Python-list design.
The naive references run on a few layers and are extrapolated; file loading is excluded.
The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from sklearn.linear_model import LinearRegression

from attnhuman.analysis.divergence import run_divergence
from attnhuman.analysis.trivial import model_reliance
from attnhuman.attention.store import load_attention
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.source import load_corpus


def naive_divergence(a, b, corpus, layers: list[int]) -> np.ndarray:
    """``(layers, 2, sentences)``: js and sym_kl per sentence with loops over sentences and rows."""
    out = np.empty((len(layers), 2, len(corpus)))
    for li, layer in enumerate(layers):
        ma, mb = a.attention[layer].astype(float).mean(0), b.attention[layer].astype(float).mean(0)
        for k in range(len(corpus)):
            n = int(corpus.n_words[k])
            cell = int(corpus.offsets[k])
            js, kl = [], 0.0
            for i in range(n):
                p = ma[cell:cell + i + 1] + 1e-10
                q = mb[cell:cell + i + 1] + 1e-10
                p, q = p / p.sum(), q / q.sum()
                js.append(jensenshannon(p, q) ** 2)
                kl += 0.5 * (rel_entr(p, q).sum() + rel_entr(q, p).sum())
                cell += i + 1
            out[li, :, k] = np.mean(js), kl
    return out


def naive_trivial(store, corpus, layers: list[int]) -> np.ndarray:
    """``(layers, heads)`` R2 of each head on the start/previous/self patterns, one sklearn fit per head."""
    design = [[float(j == 0), float(j == i - 1), float(j == i)]
              for n in corpus.n_words for i in range(n) for j in range(i + 1)]
    out = np.empty((len(layers), store.n_heads))
    for li, layer in enumerate(layers):
        for h in range(store.n_heads):
            y = store.attention[layer, h].astype(float).tolist()
            out[li, h] = LinearRegression().fit(design, y).score(design, y)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with reading_brain/ and released_attention/")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 30], help="layers for the naive references")
    args = parser.parse_args()
    data = Path(args.data)
    corpus = load_corpus(Release(data / "reading_brain", download=False))
    folder = data / "released_attention" / "llama-30b"
    plain = load_attention(folder / "packed_plain.npz", corpus)
    translate = load_attention(folder / "packed_instr_translate.npz", corpus)
    n_layers = plain.n_layers

    start = time.perf_counter()
    fast_div = {m: run_divergence(plain, translate, m)[1] for m in ("js", "sym_kl")}
    div_fast_s = time.perf_counter() - start
    start = time.perf_counter()
    naive_div = naive_divergence(plain, translate, corpus, args.layers)
    div_naive_s = (time.perf_counter() - start) * n_layers / len(args.layers)
    div_diff = max(np.abs(fast_div[m][args.layers] - naive_div[:, i]).max() for i, m in enumerate(("js", "sym_kl")))

    start = time.perf_counter()
    fast_triv = model_reliance(plain).r2
    triv_fast_s = time.perf_counter() - start
    start = time.perf_counter()
    naive_triv = naive_trivial(plain, corpus, args.layers)
    triv_naive_s = (time.perf_counter() - start) * n_layers / len(args.layers)
    triv_diff = float(np.abs(fast_triv[args.layers] - naive_triv).max())

    print(f"{'analysis (60 layers)':28s} {'fast s':>9s} {'naive s':>9s} {'speedup':>8s} {'max diff':>9s}")
    for name, fast, naive, diff in (("divergence js + sym_kl", div_fast_s, div_naive_s, div_diff),
                                    ("trivial reliance 52 heads", triv_fast_s, triv_naive_s, triv_diff)):
        print(f"{name:28s} {fast:9.3f} {naive:9.2f} {naive / fast:8.0f} {diff:9.1e}")
    print(json.dumps({"divergence_fast_s": round(div_fast_s, 4), "divergence_naive_s": round(div_naive_s, 2),
                      "divergence_speedup": round(div_naive_s / div_fast_s, 1), "divergence_max_diff": div_diff,
                      "trivial_fast_s": round(triv_fast_s, 4), "trivial_naive_s": round(triv_naive_s, 2),
                      "trivial_speedup": round(triv_naive_s / triv_fast_s, 1), "trivial_max_diff": triv_diff,
                      "naive_layers": args.layers}))


if __name__ == "__main__":
    main()
