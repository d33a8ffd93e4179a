"""Hydra sweeper ``checked``: the basic sweeper, but every job is composed and checked first."""
from dataclasses import dataclass
from typing import Any, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore


@dataclass
class CheckedSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.attnhuman_sweeper.checked_sweeper.CheckedSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="checked", node=CheckedSweeperConf, provider="attnhuman")


class CheckedSweeper(BasicSweeper):
    """Raises before any job runs when one job of the sweep does not compose, names no model or misses an input;
    opens the sweep's parent run; ends the sweep, failed jobs or not, with the comparison run of its jobs."""

    def sweep(self, arguments: List[str]) -> Optional[Any]:
        # imported here: Hydra imports every plugin at start-up, and a single job needs none of a sweep's libraries
        from attnhuman.app.sweep import check_jobs, end_sweep, start_sweep

        jobs = check_jobs(self.config, self.hydra_context.config_loader, arguments)
        parent, jobs_ok = start_sweep(self.config, jobs), False
        try:
            returns = super().sweep(arguments)
            jobs_ok = True
            return returns
        finally:
            end_sweep(self.config, jobs, parent, jobs_ok)
