"""Registry facts of one model: family, training stage, size, tuning, and where its checkpoint is."""
from __future__ import annotations

from dataclasses import dataclass

from attnhuman.attention.measures import store_shape
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

    def check(self, store: AttentionStore, source: str, measure: str = "weights") -> None:
        """Raise DataError when ``store`` has another layer or head count than the registry gives (for ``measure``)."""
        expected = store_shape(measure, self.layers, self.heads)
        if (store.n_layers, store.n_heads) != expected:
            raise DataError(f"{source}: {store.n_layers} layers x {store.n_heads} heads, but the registry says "
                            f"{self.model} {self.size} has {self.layers} x {self.heads}"
                            f"{f' (measure={measure}: {expected[0]} x {expected[1]})' if measure != 'weights' else ''}."
                            " Is this from another model? Pick the matching model=/size=.")
