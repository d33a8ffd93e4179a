"""Where a run's attention comes from (config group ``source``)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from attnhuman.attention import AttentionStore, load_attention
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.registry import ModelSpec


def released_path(cfg: DictConfig, spec: ModelSpec) -> Path:
    """``source.path``, else ``<source.root>/<model>-<size>/<prefix.released_file>``."""
    if cfg.source.path:
        return Path(cfg.source.path)
    if not cfg.source.root:
        raise DataError("source=released needs source.path (a packed .npz or a native folder) or "
                        "source.root (a folder with <model>-<size>/packed_*.npz, e.g. "
                        "../shared/data/released_attention).")
    if not cfg.prefix.released_file:
        raise DataError(f"no released attention exists for prefix={cfg.prefix.name}; give source.path.")
    return Path(cfg.source.root) / f"{spec.model}-{spec.size}" / cfg.prefix.released_file


def load_source(cfg: DictConfig, spec: ModelSpec, corpus: Corpus) -> tuple[AttentionStore, dict]:
    """The run's attention store, checked against the corpus and the registry; plus provenance."""
    if cfg.source.name != "released":
        raise DataError(f"source={cfg.source.name} is not available; use source=released.")
    path = released_path(cfg, spec)
    store = load_attention(path, corpus)
    if (store.n_layers, store.n_heads) != (spec.layers, spec.heads):
        raise DataError(f"{path}: {store.n_layers} layers x {store.n_heads} heads, but the registry says "
                        f"{spec.model} {spec.size} has {spec.layers} x {spec.heads}. Is this file from "
                        "another model? Pick the matching model=/size=.")
    return store, {"attention_input": str(path.resolve())}
