"""Registry facts of one model: family, training stage, size, tuning, and where its checkpoint is."""
from __future__ import annotations

from dataclasses import dataclass

from attnhuman.attention.store import AttentionStore
from attnhuman.errors import DataError


@dataclass(frozen=True)
class ModelSpec:
    model: str
    size: str
    tuning: str
    family: str
    stage: str
    parameters: int
    layers: int
    heads: int
    hidden: int
    checkpoint: str | None
    architecture: dict | None = None     # checkpoint "random": the tiny model to build
    tokenizer: str | None = None         # checkpoint "random": whose tokenizer it uses
    hub: str | None = None               # owner/name@revision: where the weights are when checkpoint is no folder
    delta: dict | None = None            # hub holds a weight delta: {base, base_hub, new_rows, check_sum}
    trust_remote_code: bool = False      # the entry's repository needs its own code

    @property
    def label(self) -> str:
        return f"{self.model}-{self.size}-{self.tuning}"

    def check(self, store: AttentionStore, source: str) -> None:
        """Raise DataError when ``store`` has another layer or head count than the registry gives."""
        if (store.n_layers, store.n_heads) != (self.layers, self.heads):
            raise DataError(f"{source}: {store.n_layers} layers x {store.n_heads} heads, but the registry says "
                            f"{self.model} {self.size} has {self.layers} x {self.heads}. Is this from another "
                            "model? Pick the matching model=/size=.")
