"""Benchmark and calibration of the reader simulator (attnhuman.humans.simulate).

1. Speed: the vectorized simulator (all subject x sentence readings advanced together, one loop over
   time) against a naive reference that loops over subjects, sentences and fixations in Python with
   one random draw at a time, same model and parameters. Both simulate both groups; the fast path is
   also timed on the full workload (``--subjects`` per group, default 1000).
2. Calibration: the default parameters' simulated cohorts next to the real proxy cohorts (ceiling,
   mean trivial-pattern R2, cell density), and the naive simulator's statistics as a sanity check.

Reads the Reading Brain corpus and cohorts from ``--data`` (default ../shared/data). The last line
printed is a JSON object with fast_s, naive_s and speedup.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from attnhuman.analysis.calibration import calibration_table, cohort_summary
from attnhuman.humans.cohort import Cohort, subject_id
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohorts
from attnhuman.humans.reading_brain.source import load_corpus
from attnhuman.humans.simulate import (
    DEFAULT_GROUPS,
    GroupParams,
    group_rng,
    simulate_cohorts,
    target_probabilities,
    word_difficulty,
)


def naive_cohort(corpus, group: str, params: GroupParams, seed: int, difficulty: np.ndarray) -> Cohort:
    """Per subject, per sentence, per fixation: the same Markov reader with scalar draws."""
    rng = group_rng(seed, group)
    probs = target_probabilities(corpus, params, difficulty)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))                                       # noqa: E731
    logit = lambda p: np.log(p / (1 - p)) if 0 < p < 1 else (np.inf if p >= 1 else -np.inf)  # noqa: E731
    offsets = rng.normal(0.0, params.subject_sd, size=(2, params.n_subjects)) if params.subject_sd > 0 \
        else np.zeros((2, params.n_subjects))
    word_start = np.concatenate([[0], np.cumsum(corpus.n_words)])[:-1]
    columns = []
    for s in range(params.n_subjects):
        cells = []
        for k, n in enumerate(corpus.n_words):
            n = int(n)
            counts = np.zeros((n, n))
            rows = [probs[corpus.offsets[k] + i * (i + 1) // 2: corpus.offsets[k] + (i + 1) * (i + 2) // 2]
                    for i in range(n)]
            pos, frontier, after_regression = 0, 0, False
            for _ in range(20 * n):
                d = difficulty[word_start[k] + pos]
                if rng.random() < sig(logit(params.refixation) + params.refixation_difficulty * d + offsets[0, s]):
                    target = pos
                elif pos > 0 and rng.random() < sig(logit(params.regression) + params.regression_difficulty * d
                                                    + offsets[1, s]):
                    target = int(rng.choice(pos + 1, p=rows[pos] / rows[pos].sum()))
                    after_regression = True
                else:
                    nxt = (frontier if after_regression and rng.random() < params.resume else pos) + 1
                    if nxt < n and rng.random() < sig(logit(params.skipping) - params.skipping_difficulty
                                                      * difficulty[word_start[k] + min(nxt, n - 1)]):
                        nxt += 1
                    target, after_regression = nxt, False
                if target >= n:
                    break
                counts[pos, target] += 1
                frontier = max(frontier, target)
                pos = target
            cells.append(counts[np.tril_indices(n)])
        columns.append((np.concatenate(cells) > 0).astype(float))
    targets = np.column_stack(columns)
    keep = np.ones(len(corpus), dtype=bool)
    varying = np.ptp(targets, axis=0) > 0
    return Cohort(group, [subject_id(group, s) for s in np.flatnonzero(varying)], keep, corpus.cell_mask(keep),
                  targets[:, varying], targets.mean(axis=1), "synthetic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--subjects", type=int, default=1000, help="subjects per group, fast path")
    parser.add_argument("--naive-subjects", type=int, default=50, help="subjects per group, both paths")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    release = Release(args.data / "reading_brain", download=False)
    corpus = load_corpus(release)
    difficulty = word_difficulty(corpus)
    big = {g: dataclasses.replace(p, n_subjects=args.subjects) for g, p in DEFAULT_GROUPS.items()}
    small = {g: dataclasses.replace(p, n_subjects=args.naive_subjects) for g, p in DEFAULT_GROUPS.items()}

    start = time.perf_counter()
    simulate_cohorts(corpus, big, seed=args.seed, difficulty=difficulty)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    fast_small, _ = simulate_cohorts(corpus, small, seed=args.seed, difficulty=difficulty)
    fast_small_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = {g: naive_cohort(corpus, g, p, args.seed, difficulty) for g, p in small.items()}
    naive_s = time.perf_counter() - start

    n_sent = len(corpus)
    print(f"Simulator, {n_sent} Reading Brain sentences, groups {list(big)}:")
    print(f"  vectorized, {args.subjects} subjects per group: {fast_s:8.3f} s")
    print(f"  {args.naive_subjects} subjects per group: vectorized {fast_small_s:.3f} s, naive Python loop "
          f"{naive_s:.3f} s ({naive_s / fast_small_s:.0f}x)")
    print("  naive vs vectorized statistics (same model, independent draws):")
    for g in small:
        a, b = cohort_summary(fast_small[g], corpus.n_words), cohort_summary(naive[g], corpus.n_words)
        print(f"    {g}: ceiling {b['ceiling']:.4f} vs {a['ceiling']:.4f}, trivial R2 {b['trivial_r2']:.4f} vs "
              f"{a['trivial_r2']:.4f}, density {b['density']:.4f} vs {a['density']:.4f}")

    real, _ = load_cohorts(release, corpus, tuple(DEFAULT_GROUPS), exclude={"L1": ["L1_S01"]})
    simulated, _ = simulate_cohorts(corpus, DEFAULT_GROUPS, seed=args.seed, difficulty=difficulty)
    table = calibration_table(real, corpus.n_words, simulated, corpus.n_words)
    print("Calibration, default parameters (real = proxy cohorts of the public release):")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))
    print(json.dumps({"subjects_per_group": args.subjects, "sentences": n_sent, "fast_s": round(fast_s, 4),
                      "naive_subjects_per_group": args.naive_subjects, "fast_same_workload_s": round(fast_small_s, 4),
                      "naive_s": round(naive_s, 4), "speedup": round(naive_s / fast_small_s, 1)}))


if __name__ == "__main__":
    main()
