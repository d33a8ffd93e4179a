"""The Hydra callback: prepares the MLflow store before any job, and ends every sweep with its comparison run."""
from __future__ import annotations

import logging

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from attnhuman.app import comparison
from attnhuman.app.tracking import prepare_store, sweep_id, tracking_uri
from attnhuman.attention import sharding

log = logging.getLogger(__name__)


class TrackingCallback(Callback):
    """Creates the MLflow store before the first job, on rank 0 only (a failure here resurfaces in the job).

    Creating it once before the jobs start keeps parallel jobs from racing on the schema migration.
    """

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if sharding.is_main():
            prepare_store(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if sharding.is_main():
            prepare_store(config)
            log.info("MLflow store %s ready", tracking_uri(config))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        """The comparison run over this sweep's runs (``compare.after_sweep``)."""
        if sharding.is_main() and config.compare.after_sweep:
            try:
                comparison.run(config, sweep=sweep_id(config.hydra.sweep.dir))
            except Exception:
                log.exception("The comparison run of this sweep failed; run `python src/compare.py` to retry.")
                raise
