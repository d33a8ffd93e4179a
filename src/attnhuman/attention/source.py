"""Where a run's attention comes from: the contract of an attention source (:class:`AttentionSource`, what the
application calls; README, "Add an attention source") and its output.

- :class:`ReleasedSource` (here, torch-free): a released attention file (packed ``.npz`` or native folder);
- :class:`~attnhuman.attention.extraction.model_source.ModelSource`: a causal LM run with transformers;
- :class:`~attnhuman.attention.extraction.model_source.DeepSpeedSource`: the same, tensor-parallel with DeepSpeed AutoTP.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from attnhuman import identity
from attnhuman.attention.predictors import WordPredictors
from attnhuman.attention.store import AttentionStore, load_attention
from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError

log = logging.getLogger(__name__)
# The released attention files (../shared/data/released_attention), by their path from the model's folder, and the
# SHA-256 each must have: a file at such a path that differs is not the release's (source.verify).
RELEASED_CHECKSUMS = {
    "llama-30b/packed_plain.npz": "2e4eaf2be58e2c4626ad0080c13bab98af8587e91d7564e49c96aad1188cdd48",
    "llama-30b/packed_instr_translate.npz": "c08428433c9ef282feccf6278f471374408307edba3ff826334f944d806f34da",
    "llama-30b/native/rb_p1_layer0.npy": "b2417d5a9602ef3ba974990eef8c25d1a306e50568aa03d1c3dc5af3c1ffd41f",
    "llama-30b/native/rb_p1_layer1.npy": "7a74fff22338123496d6deff1beee93274bc47b991956c5d45943028d98a185d",
    "gpt2-large/native/rb_p1_layer0.npy": "32413e3e55b34976092b9bdde948b268c03ebdfde9a82c65e16822b9686ce09d",
}
VERIFY = ("warn", "strict", "off")


@dataclass
class SourceOutput:
    """The run's attention (None on a tensor-parallel rank other than 0, and for a source of predictions alone), its
    word predictions (none from released attention), provenance tags and cost metrics."""

    store: AttentionStore | None
    tags: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    predictions: WordPredictors = field(default_factory=lambda: WordPredictors({}))


Decision = TypeVar("Decision")


@runtime_checkable
class AttentionSource(Protocol):
    """A run's word-level attention on the corpus' cell index and its word predictions, with their provenance.

    ``gives``: what :meth:`load` gives, of ``attention`` and the word predictions of
    :data:`attnhuman.attention.predictors.PREDICTORS` (a source with attention also gives ``attention_entropy``).
    """

    gives: tuple[str, ...]

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
    """Attention released by a paper's authors, validated against the corpus on import; a file of the release
    (:data:`RELEASED_CHECKSUMS`) is checked against its SHA-256 as ``verify`` says: ``warn`` (logged, the run tagged
    ``attention_modified``), ``strict`` (refused before any run exists) or ``off``."""

    path: Path
    cache_dir: Path | None = None       # remembers file hashes
    verify: str = "warn"
    gives = ("attention", "attention_entropy")

    def __post_init__(self):
        if self.verify not in VERIFY:
            raise ConfigError(f"source.verify={self.verify!r}: choose one of {list(VERIFY)} (default: data.verify).")
        if not Path(self.path).exists():
            raise DataError(f"attention input {self.path} does not exist: give a packed .npz file or a folder "
                            "of native '*layer<k>.npy' files (source.path), or source.root.")

    @property
    def files(self) -> list[Path]:
        path = Path(self.path)
        return sorted(path.glob("*.npy")) if path.is_dir() else [path]

    @cached_property
    def modified(self) -> dict[str, str]:
        """``{file name: why}``: the files of the release whose SHA-256 is not the release's (``verify=warn``: each
        logged once)."""
        out = {}
        for path in self.files if self.verify != "off" else []:
            known = [k for k in RELEASED_CHECKSUMS if path.resolve().as_posix().endswith(f"/{k}")]
            if known and identity.of_file_memo(path, self.cache_dir) != RELEASED_CHECKSUMS[known[0]]:
                out[path.name] = (f"{path} differs from the released {known[0]} (SHA-256 is not "
                                  f"{RELEASED_CHECKSUMS[known[0]][:12]}...): its numbers are not the release's")
        for line in out.values() if self.verify == "warn" else []:
            log.warning("%s; the run is tagged attention_modified (source.verify=strict refuses such files).", line)
        return out

    def unavailable(self, here: bool = True) -> list[str]:
        """With ``verify=strict``, the release files that differ from the release (a released file that does not
        exist is refused when the source is built)."""
        modified = self.modified                # computed (and with verify=warn, logged) before any run exists
        if self.verify != "strict":
            return []
        return [f"{line}. Restore the file, or set source.verify=warn (default: data.verify)."
                for line in modified.values()]

    def fingerprint(self) -> str:
        """What the attention is: the contents of the file (or of a native folder's layer files)."""
        return "released:" + identity.of_files(self.files, self.cache_dir)

    def load(self, corpus: Corpus) -> SourceOutput:
        tags = {"attention_input": str(Path(self.path).resolve())}
        if self.modified:
            tags["attention_modified"] = ", ".join(self.modified)
        return SourceOutput(load_attention(self.path, corpus), tags)

    def agree(self, decision):
        """One process reads a released file: its own decision."""
        return decision
