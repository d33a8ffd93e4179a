"""The runs a comparison holds, and the pairs the paper compares among them."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.attention.extraction.measures import MEASURES, store_shape
from attnhuman.attention.store import AttentionStore, load_packed
from attnhuman.errors import DataError

INSTRUCTIONS = ("translate", "paraphrase")
ONE_MEASURE = ("scaling", "tuning", "instruction", "noise", "reference")    # pair kinds of runs of one measure


@dataclass(eq=False)
class Run:
    """One job run as the comparison sees it: its tags, params and metrics, and how to read its artifacts.

    ``fetch(path)``: the local file of artifact ``path``; ``history(key)``: ``[(step, value), ...]`` of a metric.
    """

    run_id: str
    name: str
    tags: dict
    params: dict
    metrics: dict
    fetch: Callable[[str], Path]
    history: Callable[[str], list]

    model = property(lambda self: self.tags["model"])
    size = property(lambda self: self.tags["size"])
    tuning = property(lambda self: self.tags["tuning"])
    prefix = property(lambda self: self.tags["prefix"])
    family = property(lambda self: self.tags["family"])
    stage = property(lambda self: self.tags["stage"])
    source = property(lambda self: self.tags["source"])

    @property
    def parameters(self) -> int:
        return int(self.params["model_size.parameters"])

    @property
    def layers(self) -> int:
        return int(self.params["model_size.layers"])

    @property
    def heads(self) -> int:
        return int(self.params.get("model_size.heads", 0))

    @property
    def measure(self) -> str:
        """The attention measure (docs/method.md, "Attention measures"); runs before measures existed hold the weights."""
        return self.params.get("measure.name", "weights")

    @property
    def depth(self) -> int:
        """The layers of the run's store (and of its R2 tables): the model's, or 1 for a measure without layers
        (saliency)."""
        return store_shape(self.measure, self.layers, max(self.heads, 1))[0] if self.measure in MEASURES \
            else self.layers

    @property
    def code_digest(self) -> str:
        """The digest of the code that computed the run's numbers (runs before it was recorded: ``-``)."""
        return self.tags.get("code_digest", "-")

    @property
    def training_step(self) -> int | None:
        """The training step of a checkpoint revision (``model=hub model.revision=step1000``), else None."""
        step = self.params.get("training_step")
        return int(step) if step not in (None, "None") else None

    @property
    def label(self) -> str:
        """The run name, which names a source other than transformers (``+released``); older runs' names did not."""
        marked = self.source == "hf" or f"+{self.source}" in self.name
        return self.name if marked else f"{self.name} ({self.source})"

    @cached_property
    def store(self) -> AttentionStore:
        return load_packed(self.fetch(metrics.ATTENTION))

    def r2(self, group: str) -> pd.DataFrame:
        """``(subjects, layers)`` per-subject R2 of the paper-faithful score."""
        try:
            path = self.fetch(metrics.r2_table(group))
        except Exception as e:
            raise DataError(f"run {self.label} ({self.run_id}) has no {metrics.r2_table(group)}: the comparison needs "
                            "runs scored with the paper-faithful default (analysis.score=insample, "
                            "predictors=heads); select such runs with compare.filter.") from e
        return pd.read_csv(path, index_col="subject")

    @functools.cache
    def curve(self, key: str) -> np.ndarray | None:
        """A per-layer metric (step = layer), or None when the run did not log it (fetched once)."""
        history = self.history(key)
        if not history:
            return None
        values = np.full(max(step for step, _ in history) + 1, np.nan)
        for step, value in history:
            values[step] = value
        return values


def latest_per_job(runs: list[Run]) -> tuple[list[Run], list[str]]:
    """The first run per (name, source) of ``runs`` (newest first), sorted for the tables; notes on the rest."""
    kept, seen, notes = [], set(), []
    for run in runs:
        key = (run.name, run.tags.get("source"))
        if key in seen:
            notes.append(f"{run.name} ({run.run_id}): an older run of the same job, left out")
            continue
        seen.add(key)
        kept.append(run)
    return sorted(kept, key=lambda r: (r.family, r.model, r.parameters, r.tuning, r.prefix)), notes


@dataclass(frozen=True)
class Pair:
    kind: str      # scaling | tuning | instruction | noise | reference | measure
    a: Run
    b: Run


def find_pairs(runs: list[Run], reference: tuple[str, str]) -> list[Pair]:
    """Every pair the paper compares, among the runs present. Only ``measure`` pairs mix attention measures: the
    weights (a) against each other measure (b) of one model, size, tuning, prefix, source and revision, of equal depth
    (:attr:`Run.depth`); every other kind pairs runs of one measure."""
    pairs = []
    for a in runs:
        for b in runs:
            if a.measure != b.measure:
                if (a.measure == "weights" and a.depth == b.depth and
                        (a.model, a.size, a.tuning, a.prefix, a.source, a.training_step)
                        == (b.model, b.size, b.tuning, b.prefix, b.source, b.training_step)):
                    pairs.append(Pair("measure", a, b))
                continue
            same_model = (a.model, a.size, a.tuning) == (b.model, b.size, b.tuning)
            if same_model and a.prefix == "none" and b.prefix in INSTRUCTIONS:
                pairs.append(Pair("instruction", a, b))
            if same_model and a.prefix == "none" and b.prefix == "noise":
                pairs.append(Pair("noise", a, b))
            if (a.model, a.tuning, a.prefix) == (b.model, b.tuning, b.prefix) and a.parameters < b.parameters:
                pairs.append(Pair("scaling", a, b))
            if ((a.family, a.size, a.prefix) == (b.family, b.size, b.prefix) and a.stage == "pretrained"
                    and b.stage != "pretrained"):
                pairs.append(Pair("tuning", a, b))
            if (a.name, b.name) == tuple(reference):
                pairs.append(Pair("reference", a, b))
    return pairs
