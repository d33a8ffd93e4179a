"""The Hydra callback: prepares the MLflow store before any job, and ends every sweep with its comparison run."""
from __future__ import annotations

import logging

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from attnhuman.app import comparison
from attnhuman.app.tracking import prepare_store, sweep_id, tracking_uri
from attnhuman.attention import sharding
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
            log.info("MLflow store %s ready", tracking_uri(config))

    @staticmethod
    def _prepare(config: DictConfig) -> bool:
        """Create the store on rank 0; a store that cannot be created is left to the job, which says why."""
        if not sharding.is_main():
            return False
        try:
            prepare_store(config)
        except DataError:
            return False
        return True

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        """The comparison run over this sweep's runs (``compare.after_sweep``)."""
        if sharding.is_main() and config.compare.after_sweep:
            try:
                comparison.run(config, sweep=sweep_id(config.hydra.sweep.dir))
            except Exception:
                log.exception("The comparison run of this sweep failed; run `python src/compare.py` to retry.")
                raise
