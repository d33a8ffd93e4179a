"""Where a run's attention comes from (config group ``source``)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from attnhuman import sharding
from attnhuman.attention import AttentionStore, load_attention
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.extract import ExtractionCache, cache_key, extract, peak_rss_mb
from attnhuman.models import DTYPES, open_checkpoint
from attnhuman.registry import ModelSpec

log = logging.getLogger(__name__)


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


def load_source(cfg: DictConfig, spec: ModelSpec, corpus: Corpus) -> tuple[AttentionStore | None, dict, dict]:
    """The run's attention store checked against the corpus and the registry, tags, and metrics.

    With ``source=deepspeed`` only rank 0 gets the store; other ranks get ``(None, {}, {})``.
    """
    if cfg.source.name == "released":
        path = released_path(cfg, spec)
        store, tags, metrics = load_attention(path, corpus), {"attention_input": str(path.resolve())}, {}
    elif cfg.source.name in ("hf", "deepspeed"):
        store, tags, metrics = _run_model(cfg, spec, corpus)
        if store is None:
            return None, {}, {}
    else:
        raise DataError(f"source={cfg.source.name} is not available; use source=hf, deepspeed or released.")
    if (store.n_layers, store.n_heads) != (spec.layers, spec.heads):
        raise DataError(f"{tags.get('attention_input', cfg.source.name)}: {store.n_layers} layers x {store.n_heads} "
                        f"heads, but the registry says {spec.model} {spec.size} has {spec.layers} x {spec.heads}. "
                        "Is this from another model? Pick the matching model=/size=.")
    return store, tags, metrics


def _run_model(cfg: DictConfig, spec: ModelSpec, corpus: Corpus) -> tuple[AttentionStore | None, dict, dict]:
    """Extract with transformers (sharded by DeepSpeed AutoTP for source=deepspeed), through the cache.

    The cache is looked up before any weights are read: a hit costs only the tokenizer.
    """
    src = cfg.source
    tp_size = sharding.init(src.tp_size) if src.name == "deepspeed" else None
    start = time.perf_counter()
    architecture = cfg.model_size.get("architecture")
    checkpoint = open_checkpoint(spec.checkpoint, spec.label, trust_remote_code=src.trust_remote_code,
                                 seed=src.seed, tokenizer=cfg.model_size.get("tokenizer"),
                                 architecture=OmegaConf.to_container(architecture) if architecture else None)
    key = cache_key(checkpoint.identity, checkpoint.tokenizer, cfg.prefix.text, src.dtype, corpus)
    cache = ExtractionCache(src.cache_dir)
    result = cache.load(key, corpus) if src.cache and sharding.is_main() else None
    if sharding.broadcast(result is not None):
        if result is None:          # rank 0 has it cached: nothing for this rank to do
            return None, {}, {}
        log.info("Reusing cached extraction %s", cache.path(key))
        load_s = time.perf_counter() - start
    else:
        model = checkpoint.load(src.dtype, src.get("device_map"))
        if tp_size is not None:
            model = sharding.shard(model, tp_size, DTYPES[src.dtype])
        load_s = time.perf_counter() - start
        result = extract(model, checkpoint.tokenizer, corpus, cfg.prefix.text, src.batch_size,
                         src.progress and sharding.is_main())
        attention = sharding.gather_heads(result.store.attention) if tp_size is not None else result.store.attention
        if attention is None:
            return None, {}, {}
        result.store.attention = attention
        if src.cache:
            cache.save(key, result)
    n_tokens = int(result.n_tokens.sum())
    metrics = {"ntp_loss": result.ntp_loss, "ntp_loss_per_len": result.ntp_loss_per_len,
               "extract_s": result.extract_s, "tokens_per_s": n_tokens / result.extract_s, "load_s": load_s,
               "peak_rss_mb": peak_rss_mb(), **result.alignment}
    tags = {"attention_input": f"{spec.checkpoint} ({checkpoint.identity[:80]})", "cache_key": key,
            "cache_hit": str(result.cached).lower()}
    if tp_size is not None:
        tags["tp_size"] = str(tp_size)
    return result.store, tags, metrics
