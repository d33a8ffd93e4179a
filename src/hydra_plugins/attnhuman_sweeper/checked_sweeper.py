"""Hydra sweeper ``checked``: the basic sweeper, but every job is composed and checked first."""
from dataclasses import dataclass
from typing import Any, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore

from attnhuman.app.sweep import check_jobs, end_sweep


@dataclass
class CheckedSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.attnhuman_sweeper.checked_sweeper.CheckedSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="checked", node=CheckedSweeperConf, provider="attnhuman")


class CheckedSweeper(BasicSweeper):
    """Raises before any job runs when one job of the sweep does not compose or names no model; ends the sweep,
    failed jobs or not, with the comparison run of its jobs."""

    def sweep(self, arguments: List[str]) -> Optional[Any]:
        jobs = check_jobs(self.config, self.hydra_context.config_loader, arguments)
        try:
            return super().sweep(arguments)
        finally:
            end_sweep(self.config, jobs)
