"""The model registry: facts of every model x size x tuning, resolved from the composed config.

Each existing model/size combination has a file ``conf/model_size/<model>_<size>.yaml``
(parameters, layers, heads, hidden size, tunings with their checkpoint locations).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.errors import CompactHydraException
from omegaconf import DictConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


class ConfigError(CompactHydraException, ValueError):
    """A configuration that names something the registry does not have (Hydra prints it without traceback)."""


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

    @property
    def label(self) -> str:
        return f"{self.model}-{self.size}-{self.tuning}"


def combinations(conf_dir: Path = CONF_DIR) -> list[str]:
    """Every registered ``<model>_<size>``."""
    return sorted(p.stem for p in (conf_dir / "model_size").glob("*.yaml") if not p.stem.endswith("_auto"))


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """The model of a composed job config; ``tuning=default`` becomes the entry's default."""
    entry = cfg.model_size
    tuning = entry.default_tuning if cfg.tuning.name == "default" else cfg.tuning.name
    if tuning not in entry.tunings:
        raise ConfigError(f"{cfg.model.name} {cfg.size.name} has no tuning '{tuning}'; "
                          f"choose one of {sorted(entry.tunings)} (or tuning=default).")
    size = entry.get("size", cfg.size.name)          # size=auto: the entry says which size it is
    return ModelSpec(model=cfg.model.name, size=size, tuning=tuning, family=cfg.model.family,
                     stage=cfg.model.stage, parameters=int(entry.parameters), layers=int(entry.layers),
                     heads=int(entry.heads), hidden=int(entry.hidden),
                     checkpoint=entry.tunings[tuning].checkpoint)


def run_name(cfg: DictConfig) -> str:
    """``model-size-tuning-prefix``: the MLflow run name of a job."""
    return f"{resolve_model(cfg).label}-{cfg.prefix.name}"
