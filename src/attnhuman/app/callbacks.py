"""The Hydra callback: prepares the MLflow store before any job (the sweeper ends a sweep with its comparison)."""
from __future__ import annotations

import logging

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from attnhuman.app.spec import tracking
from attnhuman.app.tracking import prepare_store
from attnhuman.attention.extraction import ranks
from attnhuman.errors import DataError

log = logging.getLogger(__name__)


class TrackingCallback(Callback):
    """Creates the MLflow store before the first job, on rank 0 only (a failure here resurfaces in the job).

    Creating it once before the jobs start keeps parallel jobs from racing on the schema migration.
    """

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._prepare(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if self._prepare(config):
            log.info("MLflow store %s ready", tracking(config).uri)

    @staticmethod
    def _prepare(config: DictConfig) -> bool:
        """Create the store on rank 0; a store that cannot be created is left to the job, which says why."""
        if not ranks.is_main():
            return False
        try:
            prepare_store(tracking(config))
        except DataError:
            return False
        return True
