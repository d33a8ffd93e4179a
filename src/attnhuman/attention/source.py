"""Where a run's attention comes from: the contract of an attention source (:class:`AttentionSource`, what the
application calls; README, "Add an attention source") and its output.

- :class:`ReleasedSource` (here, torch-free): a released attention file (packed ``.npz`` or native folder);
- :class:`~attnhuman.attention.extraction.model_source.ModelSource`: a causal LM run with transformers;
- :class:`~attnhuman.attention.extraction.model_source.DeepSpeedSource`: the same, tensor-parallel with DeepSpeed AutoTP.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from attnhuman import identity
from attnhuman.attention.store import AttentionStore, load_attention
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError


@dataclass
class SourceOutput:
    """The run's attention (None on a tensor-parallel rank other than 0), its provenance tags and cost metrics."""

    store: AttentionStore | None
    tags: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


Decision = TypeVar("Decision")


@runtime_checkable
class AttentionSource(Protocol):
    """A run's word-level attention on the corpus' cell index, with its provenance."""

    def unavailable(self, here: bool = True) -> list[str]:
        """What is missing to run this source (a checkpoint; with ``here``, room on this machine for its weights),
        found without reading any weights, before any run exists."""

    def fingerprint(self) -> str:
        """What the attention will be, without the corpus (the data's fingerprint covers it): a digest of the
        released file, or of the weights, tokenizer, prefix, dtype, measure and extraction code."""

    def load(self, corpus: Corpus) -> SourceOutput:
        """The attention (None on a tensor-parallel rank other than 0), provenance tags and cost metrics."""

    def agree(self, decision: Decision) -> Decision:
        """One decision shared by every process of a job (rank 0's), such as skipping it."""


@dataclass(frozen=True)
class ReleasedSource:
    """Attention released by a paper's authors, validated against the corpus on import."""

    path: Path
    cache_dir: Path | None = None       # remembers file hashes

    def __post_init__(self):
        if not Path(self.path).exists():
            raise DataError(f"attention input {self.path} does not exist: give a packed .npz file or a folder "
                            "of native '*layer<k>.npy' files (source.path), or source.root.")

    def unavailable(self, here: bool = True) -> list[str]:
        """Nothing is missing: a released file that does not exist is refused when the source is built."""
        return []

    def fingerprint(self) -> str:
        """What the attention is: the contents of the file (or of a native folder's layer files)."""
        path = Path(self.path)
        return "released:" + identity.of_files(sorted(path.glob("*.npy")) if path.is_dir() else [path], self.cache_dir)

    def load(self, corpus: Corpus) -> SourceOutput:
        return SourceOutput(load_attention(self.path, corpus), {"attention_input": str(Path(self.path).resolve())})

    def agree(self, decision):
        """One process reads a released file: its own decision."""
        return decision
