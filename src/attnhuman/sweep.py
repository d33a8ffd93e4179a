"""Checks a Hydra sweep before it starts (used by the ``checked`` sweeper plugin)."""
from __future__ import annotations

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from attnhuman.registry import ConfigError, combinations, resolve_model


def check_jobs(config: DictConfig, loader, arguments: list[str]) -> int:
    """Compose every job of the sweep and resolve its model; raise listing every invalid job."""
    overrides = OverridesParser.create().parse_overrides(list(arguments))
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    problems = []
    for job in jobs:
        try:
            resolve_model(loader.load_sweep_config(config, list(job)))
        except (HydraException, ConfigError) as e:
            problems.append(f"  {' '.join(job)}: {str(e).strip().splitlines()[0]}")
    if problems:
        raise ConfigError("Invalid sweep, no job was started:\n" + "\n".join(problems)
                          + "\nValid model_size combinations (model_size/<model>_<size>): "
                          + ", ".join(combinations()))
    return len(jobs)
