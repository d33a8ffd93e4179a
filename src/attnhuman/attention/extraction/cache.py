"""The extraction cache: extractions on disk, keyed by everything that changes what they hold."""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np

from attnhuman import identity
from attnhuman.attention.extraction.align import AlignmentStats
from attnhuman.attention.extraction.extract import PREDICTED, Chunk, Extraction
from attnhuman.attention.store import AttentionStore, validate
from attnhuman.corpus import Corpus

log = logging.getLogger(__name__)
# The code an extraction's numbers depend on: editing it computes them again.
EXTRACTION_CODE = ("corpus.py", "attention/store.py", "attention/extraction", "attention/models/checkpoints.py")


def cache_key(weights: str, tokenizer, prefix: str, dtype: str, corpus: Corpus | None,
              measure: str = "weights", lens: bool = False) -> str:
    """The weights' identity, tokenizer, prefix, dtype, corpus (None: left out), measure, whether the logit lens is
    kept, and the extraction code."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    tok = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    text = identity.of_bytes("\n".join(corpus.sentences).encode()) if corpus is not None else None
    parts = [weights, identity.of_bytes(tok.encode()), prefix, dtype, text, measure, identity.of_code(*EXTRACTION_CODE)]
    parts += ["lens"] if lens else []
    return identity.of_value(parts)[:24]


ARRAYS = ("attention", "n_words", "sentences_per_article", "nll", "n_tokens", *PREDICTED)
OPTIONAL = ("lens",)            # kept when the extraction computed it


class ExtractionCache:
    """Extractions on disk by key; a file that is unreadable, of another key or corpus, whose arrays are not those
    it was written with (their digest), or that fails the checks of imported attention
    (:func:`attnhuman.attention.store.validate`) is reported and recomputed."""

    def __init__(self, folder: Path, probabilities: bool = True):
        self.folder = Path(folder).expanduser()
        self.probabilities = probabilities      # rows of at most 1 (false for measure=norm)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load(self, key: str, corpus: Corpus) -> Extraction | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key or not np.array_equal(z["n_words"], corpus.n_words):
                    raise ValueError("key or corpus mismatch")
                names = [*ARRAYS, *(name for name in OPTIONAL if name in z.files)]
                if identity.of_arrays({name: z[name] for name in names}) != str(z["digest"]):
                    raise ValueError("its arrays were edited since it was written")
                store = AttentionStore(z["attention"], z["n_words"], z["sentences_per_article"])
                predictors = {name: z[name] for name in (*PREDICTED, *OPTIONAL) if name in z.files}
                extraction = Extraction(store, z["nll"], z["n_tokens"], predictors,
                                        json.loads(str(z["alignment"])), float(z["extract_s"]), cached=True)
            validate(store, corpus, str(path), self.probabilities)
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
            log.warning("Extraction cache file %s is unusable (%s: %s); recomputing it.", path, type(e).__name__, e)
            path.unlink(missing_ok=True)
            return None
        return extraction

    def save(self, key: str, extraction: Extraction) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path(key).with_suffix(".part.npz")
        s = extraction.store
        arrays = dict(attention=s.attention, n_words=s.n_words, sentences_per_article=s.sentences_per_article,
                      nll=extraction.nll, n_tokens=extraction.n_tokens, **extraction.predictors)
        np.savez(partial, key=key, digest=identity.of_arrays(arrays), alignment=json.dumps(extraction.alignment),
                 extract_s=extraction.extract_s, **arrays)
        partial.replace(self.path(key))
        return self.path(key)

    def save_or_warn(self, key: str, extraction: Extraction) -> Path | None:
        """:meth:`save`, but a cache that cannot be written only costs a warning: the extraction is kept."""
        try:
            return self.save(key, extraction)
        except OSError as e:
            log.warning("Could not write the extraction cache %s (%s): this run goes on with the extraction in "
                        "memory; set source.cache_dir to a writable folder to keep it.", self.path(key), e)
            return None


class ChunkStore:
    """The finished chunks of one extraction (``<key>.chunks/``), kept until the whole extraction is cached: a
    requeued or restarted job resumes after them. A chunk that is unreadable, of another key or not valid
    attention is reported and computed again."""

    def __init__(self, folder: Path, key: str, corpus: Corpus):
        self.folder, self.key, self.corpus = Path(folder) / f"{key}.chunks", key, corpus

    def finished(self) -> list[Chunk]:
        chunks, seen = [], np.zeros(len(self.corpus), dtype=bool)
        for path in sorted(self.folder.glob("chunk-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    chunk = Chunk(z["sentences"], z["attention"], z["nll"], z["n_tokens"],
                                  AlignmentStats(**json.loads(str(z["alignment"]))), float(z["seconds"]),
                                  {name: z[name] for name in (*PREDICTED, *OPTIONAL) if name in z.files})
                    if str(z["key"]) != self.key:
                        raise ValueError("another extraction's chunk")
                sentences = chunk.sentences
                if sentences.min() < 0 or sentences.max() >= len(self.corpus) or seen[sentences].any():
                    raise ValueError("sentences outside the corpus or already in another chunk")
                cells = int(sum(self.corpus.offsets[k + 1] - self.corpus.offsets[k] for k in sentences))
                values = chunk.attention
                if values.shape[2] != cells or not np.isfinite(values).all() or (values < 0).any():
                    raise ValueError("its attention does not fit its sentences or is not finite and >= 0")
            except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError, EOFError) as e:
                log.warning("Extraction chunk %s is unusable (%s); computing its sentences again.", path, e)
                path.unlink(missing_ok=True)
                continue
            seen[sentences] = True
            chunks.append(chunk)
        if chunks:
            log.info("Resuming the extraction: %d of %d sentences done in %d saved chunk(s) (%s)", int(seen.sum()),
                     len(self.corpus), len(chunks), self.folder)
        return chunks

    def save(self, chunk: Chunk) -> None:
        """Write one chunk (atomically); a folder that cannot be written costs a warning."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"chunk-{len(list(self.folder.glob('chunk-*.npz'))):05d}.npz"
            partial = path.with_suffix(".part.npz")
            np.savez(partial, key=self.key, sentences=chunk.sentences, attention=chunk.attention, nll=chunk.nll,
                     n_tokens=chunk.n_tokens, alignment=json.dumps(dataclasses.asdict(chunk.alignment)),
                     seconds=chunk.seconds, **chunk.predictors)
            partial.replace(path)
        except OSError as e:
            log.warning("Could not save an extraction chunk in %s (%s): a restarted job computes it again.",
                        self.folder, e)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PredictionCache:
    """Word predictions of a pass of their own (``context=text``) on disk by key; a file that is unreadable, of
    another key or corpus, or whose arrays are not those it was written with is reported and recomputed."""

    def __init__(self, folder: Path):
        self.folder = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.predictions.npz"

    def load(self, key: str, corpus: Corpus) -> dict[str, np.ndarray] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                values = {name: z[name] for name in (*PREDICTED, *OPTIONAL) if name in z.files}
                if str(z["key"]) != key or any(v.shape[-1] != int(corpus.word_offsets[-1]) for v in values.values()):
                    raise ValueError("key or corpus mismatch")
                if identity.of_arrays(values) != str(z["digest"]):
                    raise ValueError("its arrays were edited since it was written")
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
            log.warning("Prediction cache file %s is unusable (%s: %s); recomputing it.", path, type(e).__name__, e)
            path.unlink(missing_ok=True)
            return None
        return values

    def save_or_warn(self, key: str, values: dict[str, np.ndarray]) -> None:
        """Write the predictions (atomically); a folder that cannot be written costs a warning."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.path(key).with_suffix(".part.npz")
            np.savez(partial, key=key, digest=identity.of_arrays(values), **values)
            partial.replace(self.path(key))
        except OSError as e:
            log.warning("Could not write the prediction cache %s (%s): set source.cache_dir to a writable folder "
                        "to keep it.", self.path(key), e)
