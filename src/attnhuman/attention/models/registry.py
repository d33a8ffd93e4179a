"""Registry facts of one model: family, training stage, size, tuning, and where its checkpoint is."""
from __future__ import annotations

from dataclasses import dataclass

from attnhuman.attention.models.location import Location


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
    checkpoint: Location | None
    architecture: dict | None = None     # checkpoint Random: the tiny model to build
    tokenizer: Location | None = None    # checkpoint Random: whose tokenizer it uses
    hub: str | None = None               # owner/name@revision: where the weights are when checkpoint is no folder
    delta: dict | None = None            # hub holds a weight delta: {base, base_hub, new_rows, check_sum}
    trust_remote_code: bool = False      # the entry's repository needs its own code

    @property
    def label(self) -> str:
        return f"{self.model}-{self.size}-{self.tuning}"
