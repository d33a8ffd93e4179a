"""Attention sources that run a model: transformers (:class:`ModelSource`) and DeepSpeed AutoTP
(:class:`DeepSpeedSource`), through the extraction cache (interface: :mod:`attnhuman.attention.source`)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from attnhuman.attention.extraction import measures, sharding
from attnhuman.attention.extraction.cache import ChunkStore, ExtractionCache, PredictionCache, cache_key
from attnhuman.attention.extraction.extract import extract, peak_rss_mb, text_predictions
from attnhuman.attention.extraction.measures import PROBABILITIES
from attnhuman.attention.models import routes
from attnhuman.attention.models.checkpoints import DTYPES, Checkpoint, open_checkpoint
from attnhuman.attention.models.location import Folder
from attnhuman.attention.models.placement import Placement, gpu_memory_gb, place, ram_gb
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.predictors import WordPredictors
from attnhuman.attention.source import SourceOutput
from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError

log = logging.getLogger(__name__)
CONTEXTS = ("unit", "text")


@dataclass(frozen=True)
class ModelSource:
    """A registry model run with transformers (eager attention); ``cache_dir`` keeps extractions by key.

    The cache is looked up before any weights are read: a hit costs only the tokenizer.
    """

    spec: ModelSpec
    prefix: str = ""
    dtype: str = "float32"
    batch_size: int = 16
    chunk_size: int = 256
    device_map: str | None = None
    gpu_memory_gb: tuple[float, ...] | None = None     # the visible GPUs' memory; None: measured (nvidia-smi)
    trust_remote_code: bool = False
    seed: int = 0
    progress: bool = True
    cache: bool = True
    cache_dir: Path | None = None
    checkpoint_cache_dir: Path | None = None
    measure: str = "weights"                  # docs/method.md, "Attention measures"
    context: str = "unit"                     # what the word predictions read: the unit alone, or after its text
    max_context: int = 1024                   # context=text: tokens of preceding units and the unit, at most
    lens: bool = False                        # also each layer's surprisal through the logit lens
    gives = ("attention", "surprisal", "entropy", "lens", "attention_entropy")

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ConfigError(f"source.dtype={self.dtype!r}: choose one of {sorted(DTYPES)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"source.batch_size={self.batch_size!r}: a positive number of sentences per forward pass")
        measures.check(self.measure)
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ConfigError(f"source.chunk_size={self.chunk_size!r}: a positive number of sentences saved at once")
        if self.context not in CONTEXTS:
            raise ConfigError(f"context={self.context!r}: choose unit (each unit read alone) or text (after the "
                              "preceding units of its text, for the word predictions).")
        if isinstance(self.max_context, bool) or not isinstance(self.max_context, int) or self.max_context < 16:
            raise ConfigError(f"max_context={self.max_context!r}: a number of tokens, 16 or more.")

    @cached_property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint's tokenizer and weights identity (its weights are read only on a cache miss)."""
        spec = self.spec
        problem = routes.problem(spec, self.checkpoint_cache_dir)
        location = routes.resolve(spec, self.checkpoint_cache_dir) if not problem else None
        problem = problem or routes.facts_problem(spec, location.folder if isinstance(location, Folder) else None)
        if problem:
            raise DataError(problem)
        return open_checkpoint(location, spec.label, trust_remote_code=self.remote_code, seed=self.seed,
                               tokenizer=spec.tokenizer, architecture=spec.architecture,
                               cache_dir=self.checkpoint_cache_dir)

    @property
    def remote_code(self) -> bool:
        """Whether the checkpoint's own code may run: only when the command (source) or the registry entry says so."""
        return self.trust_remote_code or self.spec.trust_remote_code

    @cached_property
    def parameters(self) -> int:
        """The number of weights to place: counted in the checkpoint's folder when it is here (safetensors headers,
        pickled storages), else the registry's; DataError when the folder's weight files cannot be read."""
        return routes.parameters(self.spec, self.checkpoint_cache_dir)

    @cached_property
    def placement(self) -> Placement:
        """``source.device_map`` when given, else one GPU, every visible GPU or the CPU, from the weights' size in
        ``dtype`` and the visible memory (``gpu_memory_gb``: None measures it); DataError when nothing fits."""
        if self.device_map:
            return Placement(self.device_map, "source.device_map")
        gpus = list(self.gpu_memory_gb) if self.gpu_memory_gb is not None else gpu_memory_gb()
        return place(self.spec.label, self.parameters, self.dtype, gpus, ram_gb())

    def unavailable(self, here: bool = True) -> list[str]:
        """What is missing to run this source: its checkpoint, weight files that cannot be read, and (``here``: on
        this machine) room for its weights; found without loading them."""
        spec = self.spec
        problem = routes.problem(spec, self.checkpoint_cache_dir) or \
            routes.facts_problem(spec, routes.local(spec, self.checkpoint_cache_dir))
        problems = [problem] if problem else []
        try:
            self.parameters
            if here:
                self.placement
        except DataError as e:
            problems.append(str(e))
        return problems

    def fingerprint(self) -> str:
        """What the attention will be: the extraction cache key (weights' contents, tokenizer, prefix, dtype, code)
        without the corpus, which the data's fingerprint covers."""
        c = self.checkpoint
        key = "model:" + cache_key(c.identity, c.tokenizer, self.prefix, self.dtype, None, self.measure, self.lens)
        return key + (f";context=text,{self.max_context}" if self.context == "text" else "")

    def _tp_size(self) -> int | None:
        return None

    def agree(self, decision):
        """One process runs the model: its own decision."""
        return decision

    def _place(self, model, tp_size: int | None):
        return model

    def load(self, corpus: Corpus) -> SourceOutput:
        spec, tp_size = self.spec, self._tp_size()
        start = time.perf_counter()
        checkpoint = self.checkpoint
        key = cache_key(checkpoint.identity, checkpoint.tokenizer, self.prefix, self.dtype, corpus, self.measure,
                        self.lens)
        cache, model = ExtractionCache(self.cache_dir, self.measure in PROBABILITIES), None
        result = cache.load(key, corpus) if self.cache and sharding.is_main() else None
        if sharding.broadcast(result is not None):
            if result is None:          # rank 0 has it cached: nothing for this rank to do
                return SourceOutput(None)
            log.info("Reusing cached extraction %s", cache.path(key))
            load_s = time.perf_counter() - start
        else:
            model = self._place(checkpoint.load(self.dtype, self.placement.device_map), tp_size)
            log.info("%s placed: %s", spec.label, self.placement.reason)
            load_s = time.perf_counter() - start
            chunks = ChunkStore(self.cache_dir, key, corpus) if self.cache and tp_size is None else None
            result = extract(model, checkpoint.tokenizer, corpus, self.prefix, self.batch_size,
                             self.progress and sharding.is_main(), chunks, self.chunk_size, self.measure, self.lens)
            attention = sharding.gather_heads(result.store.attention) if tp_size is not None else result.store.attention
            if attention is None:
                return SourceOutput(None)
            result.store.attention = attention
            if self.cache and cache.save_or_warn(key, result) is not None and chunks is not None:
                chunks.clear()
        predictions = result.predictors
        if self.context == "text":
            predictions = self._text_predictions(corpus, key, model)
        n_tokens = int(result.n_tokens.sum())
        metrics = {"ntp_loss": result.ntp_loss, "ntp_loss_per_len": result.ntp_loss_per_len,
                   "extract_s": result.extract_s, "tokens_per_s": n_tokens / result.extract_s, "load_s": load_s,
                   "peak_rss_mb": peak_rss_mb(), **result.alignment}
        tags = {"attention_input": f"{checkpoint.location} ({checkpoint.identity[:80]})", "cache_key": key,
                "cache_hit": str(result.cached).lower(), "checkpoint_route": routes.route(spec),
                "trust_remote_code": str(self.remote_code).lower()}
        if tp_size is not None:
            tags["tp_size"] = str(tp_size)
        tags["context"] = self.context if self.context == "unit" else f"text (at most {self.max_context} tokens)"
        return SourceOutput(result.store, tags, metrics, WordPredictors(predictions))

    def _text_predictions(self, corpus: Corpus, key: str, model) -> dict:
        """The word predictions with ``context=text``: cached by the extraction's key and ``max_context``, else a pass
        of their own (the model loaded if the attention came from the cache)."""
        cache = PredictionCache(self.cache_dir)
        key = f"{key}-text{self.max_context}"
        values = cache.load(key, corpus) if self.cache and sharding.is_main() else None
        if values is None:
            model = model if model is not None else self.checkpoint.load(self.dtype, self.placement.device_map)
            values = text_predictions(model, self.checkpoint.tokenizer, corpus, self.prefix, self.max_context,
                                      self.batch_size, self.progress and sharding.is_main(), self.lens)
            if self.cache:
                cache.save_or_warn(key, values)
        return values


@dataclass(frozen=True)
class DeepSpeedSource(ModelSource):
    """:class:`ModelSource` sharded by DeepSpeed AutoTP: every rank extracts its heads, rank 0 gathers them.

    ``tp_size`` None: the number of launched processes (it must equal it).
    """

    tp_size: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.measure != "weights":
            raise ConfigError(f"measure={self.measure} runs with source=hf (one process; source.device_map=auto "
                              "shards a large model over GPUs): source=deepspeed extracts the weights only.")
        if self.lens:
            raise ConfigError("predictive.predictors with lens runs with source=hf (source.device_map=auto shards a "
                              "large model over GPUs): source=deepspeed keeps no layer outputs.")
        if self.context != "unit":
            raise ConfigError("context=text runs with source=hf (source.device_map=auto shards a large model over "
                              "GPUs): source=deepspeed reads each unit alone.")

    def _tp_size(self) -> int:
        return sharding.init(self.tp_size)

    @property
    def placement(self) -> Placement:
        return Placement(None, "DeepSpeed places each shard on its rank's device")

    def agree(self, decision):
        """Rank 0's decision (to skip the job, say), shared with every rank."""
        sharding.init(self.tp_size)
        return sharding.broadcast(decision)

    def _place(self, model, tp_size: int | None):
        return sharding.shard(model, tp_size, DTYPES[self.dtype])
