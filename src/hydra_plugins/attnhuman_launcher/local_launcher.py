"""Hydra launcher ``local``: hydra-joblib-launcher (``n_jobs`` jobs at a time on this machine), each parallel job
given its own slice of the visible GPUs (``gpus_per_job``).

Every joblib worker process takes one slot for its whole life (a file lock in the sweep folder) and sets
``CUDA_VISIBLE_DEVICES`` to that slot's GPUs before its first job touches CUDA; with fewer slots than
``n_jobs``, ``n_jobs`` is lowered to the slots. Without visible GPUs jobs run as they are.
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

from attnhuman.app.gpu_slots import InSlot
from attnhuman.attention.models.placement import visible_gpus

log = logging.getLogger(__name__)


@dataclass
class LocalLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.attnhuman_launcher.local_launcher.LocalLauncher"
    n_jobs: int = "${oc.decode:${oc.env:ATTNHUMAN_N_JOBS,2}}"  # type: ignore[assignment]  (resolved to an int)
    gpus_per_job: int = 1


ConfigStore.instance().store(group="hydra/launcher", name="local", node=LocalLauncherConf, provider="attnhuman")


class LocalLauncher(JoblibLauncher):
    def __init__(self, gpus_per_job: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gpus_per_job = int(gpus_per_job)

    def setup(self, *, hydra_context, task_function, config) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        gpus, per_job = visible_gpus(), self.gpus_per_job
        if not gpus or per_job < 1:
            return
        slots = [",".join(gpus[i:i + per_job]) for i in range(0, len(gpus) - per_job + 1, per_job)]
        if not slots:
            raise ValueError(f"hydra.launcher.gpus_per_job={per_job}, but only {len(gpus)} GPU(s) are visible")
        if int(self.joblib.get("n_jobs", 1)) > len(slots) or int(self.joblib.get("n_jobs", 1)) < 0:
            log.warning("%d GPU slot(s) of %d GPU(s): running %d jobs at a time", len(slots), per_job, len(slots))
            self.joblib["n_jobs"] = len(slots)
        folder = Path(str(config.hydra.sweep.dir))
        folder.mkdir(parents=True, exist_ok=True)
        log.info("GPU slots of the parallel jobs: %s", " | ".join(slots))
        self.task_function = InSlot(task_function, folder, slots)
