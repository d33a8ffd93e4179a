"""The attention store: one run's word-level attention on the shared cell index.

On disk it is the packed layout of the released attention (``np.load`` gives ``attention``
``(n_layers, n_heads, n_cells)``, ``n_words`` ``(n_sentences,)`` and ``sentences_per_article``).
Importers read that file or a folder of the release's native per-layer ``.npy`` files
``(articles, max_sentences, heads, max_words, max_words)``. Input that does not fit the corpus
is rejected with the first offending sentences named; nothing is sliced to fit.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnhuman.corpus import Corpus, cell_offsets, tril_cells
from attnhuman.errors import DataError
from attnhuman.shapes import LayerHeadCells

PACKED_KEYS = ("attention", "n_words", "sentences_per_article")
ROW_SUM_TOLERANCE = 1e-2   # float16 storage rounds row sums by up to a few 1e-3


@dataclass
class AttentionStore:
    """``attention``: ``(n_layers, n_heads, n_cells)``; sentence k owns ``offsets[k]:offsets[k+1]``."""

    attention: LayerHeadCells
    n_words: np.ndarray
    sentences_per_article: np.ndarray

    @property
    def n_layers(self) -> int:
        return self.attention.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attention.shape[1]

    @property
    def offsets(self) -> np.ndarray:
        return cell_offsets(self.n_words)

    def sentence(self, k: int) -> np.ndarray:
        """Dense ``(n_layers, n_heads, n, n)`` attention of sentence k (zero above the diagonal)."""
        n = int(self.n_words[k])
        dense = np.zeros(self.attention.shape[:2] + (n, n), dtype=self.attention.dtype)
        rows, cols = np.tril_indices(n)
        dense[..., rows, cols] = self.attention[..., self.offsets[k]:self.offsets[k + 1]]
        return dense

    def save(self, path: Path) -> Path:
        """Write the packed layout (uncompressed ``.npz``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, attention=self.attention, n_words=np.asarray(self.n_words, dtype=np.int64),
                 sentences_per_article=np.asarray(self.sentences_per_article, dtype=np.int64))
        return path


def load_packed(path: Path) -> AttentionStore:
    """Read a packed ``.npz`` and check that its arrays are consistent with each other."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in PACKED_KEYS if k not in z.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing}; a packed attention file holds "
                                f"{list(PACKED_KEYS)} (see README, 'Attention store').")
            store = AttentionStore(z["attention"], z["n_words"].astype(np.int64),
                                   z["sentences_per_article"].astype(np.int64))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot be read as a packed attention .npz ({e}); the file is "
                        "truncated or corrupt, write it again.") from e
    if store.attention.ndim != 3:
        raise DataError(f"{path}: 'attention' has shape {store.attention.shape}, expected "
                        "(n_layers, n_heads, n_cells).")
    expected = int(cell_offsets(store.n_words)[-1])
    if store.attention.shape[2] != expected:
        raise DataError(f"{path}: 'attention' has {store.attention.shape[2]} cells but its n_words "
                        f"imply {expected} (lower triangles including the diagonal).")
    if store.sentences_per_article.sum() != len(store.n_words):
        raise DataError(f"{path}: sentences_per_article sums to {store.sentences_per_article.sum()}, "
                        f"n_words lists {len(store.n_words)} sentences.")
    return store


def load_native(directory: Path, corpus: Corpus) -> AttentionStore:
    """Read the release's native ``*layer{k}.npy`` files (zero-padded, one per layer)."""
    directory = Path(directory)
    files = {int(m.group(1)): f for f in directory.glob("*.npy")
             if (m := re.search(r"layer(\d+)\.npy$", f.name))}
    if not files:
        raise DataError(f"{directory}: no '*layer<k>.npy' files (native layout: one file per layer).")
    if sorted(files) != list(range(len(files))):
        missing = sorted(set(range(max(files) + 1)) - set(files))
        raise DataError(f"{directory}: layer files are not contiguous from 0; missing layers {missing}.")
    sent, rows, cols = tril_cells(corpus.n_words)
    positions = np.array([corpus.position(k) for k in range(len(corpus))])
    layers = []
    for layer in range(len(files)):
        array = np.load(files[layer], mmap_mode="r")
        _check_native_shape(array, corpus, files[layer])
        cells = np.asarray(array[positions[sent, 0], positions[sent, 1], :, rows, cols]).T  # (H, C)
        _check_native_mass(array, cells, corpus, positions, files[layer])
        layers.append(cells)
    return AttentionStore(np.stack(layers), corpus.n_words.copy(), corpus.sentences_per_article.copy())


def _check_native_shape(array: np.ndarray, corpus: Corpus, path: Path) -> None:
    spa = corpus.sentences_per_article
    if (array.ndim != 5 or array.shape[0] != len(spa) or array.shape[1] < spa.max()
            or array.shape[3] != array.shape[4] or array.shape[3] < corpus.n_words.max()):
        raise DataError(f"{path}: shape {array.shape} does not fit the native layout (articles="
                        f"{len(spa)}, max_sentences>={spa.max()}, heads, max_words>={corpus.n_words.max()}, "
                        "max_words) for this corpus.")


def _check_native_mass(array: np.ndarray, cells: np.ndarray, corpus: Corpus, positions: np.ndarray,
                       path: Path) -> None:
    """Reject weight outside each sentence's n x n lower triangle (e.g. token-level matrices)."""
    full = np.abs(np.asarray(array, dtype=np.float64)).sum(axis=(2, 3, 4))     # (articles, max_sent)
    inside = np.add.reduceat(np.abs(cells.astype(np.float64)).sum(axis=0), corpus.offsets[:-1])
    outside = full[positions[:, 0], positions[:, 1]] - inside
    padding = full.copy()
    padding[positions[:, 0], positions[:, 1]] = 0
    if padding.max() > 0:
        a, s = np.argwhere(padding > 0)[0]
        raise DataError(f"{path}: non-zero attention at article {a}, sentence {s}, which is not in the "
                        "corpus: the file does not belong to this corpus.")
    bad = np.flatnonzero(outside > 1e-6 * np.maximum(full[positions[:, 0], positions[:, 1]], 1))
    if bad.size:
        examples = []
        for k in bad[:3]:
            a, s = positions[k]
            nz = np.argwhere(np.asarray(array[a, s]).any(axis=0))
            examples.append(f"{corpus.label(k)}: the text has {corpus.n_words[k]} words, the matrix has "
                            f"weight up to row {nz[:, 0].max() + 1} / column {nz[:, 1].max() + 1} or above the diagonal")
        raise DataError(f"{path}: {bad.size} of {len(corpus)} sentences have attention outside their "
                        f"word-level lower triangle; first: {'; '.join(examples)}. This looks like "
                        "token-level (not word-merged) or non-causal attention. Merge tokens into words "
                        "(docs/method.md, 'Model attention') before importing; attnhuman does not slice it to fit.")


def validate(store: AttentionStore, corpus: Corpus, source: str, probabilities: bool = True) -> AttentionStore:
    """Check a store against the corpus; raises DataError naming the first offending sentences.
    ``probabilities``: rows must sum to at most 1 (not for sizes such as measure=norm)."""
    if store.sentences_per_article.tolist() != corpus.sentences_per_article.tolist():
        raise DataError(f"{source}: {store.sentences_per_article.tolist()} sentences per article, the corpus "
                        f"has {corpus.sentences_per_article.tolist()}.")
    wrong = np.flatnonzero(store.n_words != corpus.n_words)
    if wrong.size:
        first = "; ".join(f"{corpus.label(k)} has {store.n_words[k]} words in the attention, "
                          f"{corpus.n_words[k]} in the text ({corpus.sentences[k]!r})" for k in wrong[:3])
        raise DataError(f"{source}: word counts differ from the corpus in {wrong.size} sentences; "
                        f"first: {first}. Token-level attention must be merged to words; nothing is "
                        "sliced to fit.")
    offsets = corpus.offsets
    row_starts = np.flatnonzero(tril_cells(corpus.n_words)[2] == 0)   # cells are grouped by row
    for layer in range(store.n_layers):
        values = store.attention[layer].astype(np.float32)
        problem = None
        if not np.isfinite(values).all():
            cell = np.argwhere(~np.isfinite(values))[0][1]
            problem = "non-finite (NaN or inf) values"
        elif (values < 0).any():
            cell = np.argwhere(values < 0)[0][1]
            problem = "negative weights"
        elif probabilities:
            row_sums = np.add.reduceat(values, row_starts, axis=1)
            if row_sums.max() > 1 + ROW_SUM_TOLERANCE:
                cell = row_starts[np.argwhere(row_sums > 1 + ROW_SUM_TOLERANCE)[0][1]]
                problem = f"rows summing to more than 1 (max {row_sums.max():.3f}): not attention weights"
        if problem:
            k = int(np.searchsorted(offsets, cell, side="right") - 1)
            raise DataError(f"{source}: layer {layer} has {problem}, first in sentence {corpus.label(k)}. "
                            "Re-extract the attention; rows must be probability weights (<= 1 each).")
    if store.attention.size and store.attention.min() == store.attention.max():
        raise DataError(f"{source}: every weight of every layer and head is {float(store.attention.flat[0]):.6g}: "
                        "constant attention carries no information to compare (an empty or broken export?). "
                        "Re-extract the attention.")
    return store


def load_attention(path: Path, corpus: Corpus) -> AttentionStore:
    """Packed ``.npz`` file or native folder, validated against the corpus."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"attention input {path} does not exist: give a packed .npz file or a folder "
                        "of native '*layer<k>.npy' files (source.path).")
    store = load_native(path, corpus) if path.is_dir() else load_packed(path)
    return validate(store, corpus, str(path))


def reference_rows(store: AttentionStore, layer: int, corpus: Corpus, source: str = "reference") -> np.ndarray:
    """``(n_cells,)`` head-averaged attention of ``layer``, each row renormalized to sum 1 over j <= i
    (a row without mass becomes uniform): a planted reference for simulated readers."""
    if store.n_words.tolist() != corpus.n_words.tolist():
        raise DataError(f"{source}: its word counts do not match the corpus ({len(store.n_words)} sentences "
                        f"vs {len(corpus)}); give a reference attention computed on this corpus.")
    if not (-store.n_layers <= layer < store.n_layers):
        raise DataError(f"layer {layer}: {source} has {store.n_layers} layers (0..{store.n_layers - 1}).")
    values = np.clip(store.attention[layer].astype(np.float64).mean(axis=0), 0.0, None)
    sentence, rows, _ = tril_cells(corpus.n_words)
    row = np.concatenate([[0], np.cumsum(corpus.n_words)])[sentence] + rows      # global word index of the row
    sums = np.bincount(row, weights=values, minlength=int(corpus.n_words.sum()))
    counts = np.bincount(row, minlength=int(corpus.n_words.sum()))
    return np.where(sums[row] > 0, values / np.where(sums[row] > 0, sums[row], 1.0), 1.0 / counts[row])
