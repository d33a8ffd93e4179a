"""The configuration as the commands compose it from conf/: jobs, the registry, a data source's settings."""
from omegaconf import OmegaConf

import attnhuman.app.spec  # noqa: F401  (registers the analysis schema that conf/analysis composes)
from attnhuman.app.factories import build
from helpers.paths import CONF_DIR, ROOT


def compose_job(*overrides: str, config: str = "config", hydra: bool = False):
    """The config ``python src/main.py OVERRIDES`` composes (``config="comparison"``: ``src/compare.py``'s)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config, overrides=list(overrides), return_hydra_config=hydra)


def combinations() -> list[str]:
    """Every registered ``<model>_<size>``, read from conf/model."""
    return sorted(f"{p.stem}_{size}" for p in (CONF_DIR / "model").glob("*.yaml")
                  for size in OmegaConf.load(p).sizes)


def data_settings(option: str, *keys: str) -> dict:
    """The settings ``keys`` of ``data=<option>`` as conf/ composes them (plain containers)."""
    node = OmegaConf.to_container(compose_job(f"data={option}").data, resolve=True)
    return {k: node[k] for k in keys}


GECO_COLUMNS = data_settings("geco", "columns")["columns"]
EYELINK = data_settings("eyelink", "ia_report", "fixation_report", "columns", "fixation_columns")


def synthetic_data(**overrides):
    """``data=synthetic`` with ``overrides`` of ``data.*`` keys, as the job builds it; no cache."""
    cfg = compose_job("data=synthetic", f"paths.cache={ROOT / '.no-cache'}",
                      *(f"++data.{key}={value}" for key, value in overrides.items()))
    return build(cfg.data, "data")


def load_synthetic(groups=("L1", "L2"), **overrides):
    """``(corpus, cohorts, report)`` of simulated readers configured by ``overrides``."""
    simulation = synthetic_data(**overrides)
    corpus = simulation.corpus()
    return (corpus, *simulation.cohorts(corpus, list(groups)))
