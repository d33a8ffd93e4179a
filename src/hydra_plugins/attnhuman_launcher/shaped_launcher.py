"""Hydra launchers ``slurm`` and ``submitit`` presets: hydra-submitit-launcher, extended thinly.

- Jobs of different resource shapes (GPUs, tasks: :func:`attnhuman.app.resources.job_shape`) go to separate
  job arrays, each with its own ``gpus_per_node`` and ``tasks_per_node``.
- A job with several tasks (``source=deepspeed``) gets its ranks from the scheduler's environment (RANK,
  WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT exported from SLURM's or submitit's), every task sees all the
  job's GPUs (no per-rank CUDA_VISIBLE_DEVICES); rank 0 alone logs.
- Preemption and time-outs requeue the job (``max_num_timeout``); the requeued job resumes from the
  extraction cache's finished chunks and skips what is FINISHED.
- On SLURM, a request that no node of the partition can hold is refused before submitting, and a job pending with
  a reason that says it can never run is cancelled (:mod:`attnhuman.app.slurm`): the sweep stops in one line.
"""
from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher

from attnhuman.app import slurm
from attnhuman.app.errors import CompactDataError
from attnhuman.app.resources import job_shape

log = logging.getLogger(__name__)


class _Shaped:
    """Mixin over a submitit launcher: one job array per resource shape, ranks exported per task."""

    def __call__(self, sweep_overrides, job_dir_key, job_num, job_id, singleton_state) -> JobReturn:
        environment = submitit.JobEnvironment()
        if environment.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        loader = self.hydra_context.config_loader
        shapes = [job_shape(loader.load_sweep_config(self.config, list(o))) for o in job_overrides]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        returns: dict[int, JobReturn] = {}
        if self._EXECUTOR == "slurm":
            for shape in sorted(set(shapes)):
                slurm.check_request(self.params.get("partition"), int(self.params.get("cpus_per_task") or 1),
                                    shape.tasks, self.params.get("mem_gb"), shape.gpus)
        for shape in sorted(set(shapes)):
            indices = [i for i, s in enumerate(shapes) if s == shape]
            executor = self._executor(shape)
            log.info("Submitit '%s': %d job(s) with %d GPU(s) and %d task(s) each, in one array (output: %s)",
                     self._EXECUTOR, len(indices), shape.gpus, shape.tasks, sweep_dir)
            params = []
            for i in indices:
                log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])))
                params.append((list(job_overrides[i]), "hydra.sweep.dir", initial_job_idx + i,
                               f"job_id_for_{initial_job_idx + i}", Singleton.get_state()))
            try:
                jobs = executor.map_array(self, *zip(*params))
            except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError) as e:
                raise CompactDataError(slurm.refused(len(indices), shape.gpus, shape.tasks, str(e))) from e
            for i, job in zip(indices, jobs):
                log.info("\t#%d : %s job %s", initial_job_idx + i, self._EXECUTOR, job.job_id)
            for i, job in zip(indices, jobs):
                returns[i] = self._result(job, list(job_overrides[i]), shape)
        return [returns[i] for i in range(len(job_overrides))]

    def _result(self, job, overrides: list[str], shape) -> JobReturn:
        """The job's JobReturn; a SLURM job that left the queue without a result (killed, node lost) is FAILED, one
        pending for ever (its reason says it cannot run) is cancelled and stops the sweep.

        submitit learns a job's end from ``sacct``; without accounting it would wait for the lost job forever.
        """
        while not job.done():
            if self._EXECUTOR == "slurm":
                try:
                    state = slurm.slurm_state(job.job_id)
                    request = (f"{self.params.get('cpus_per_task')} CPUs per task, {shape.tasks} task(s), "
                               f"{self.params.get('mem_gb')} GB, {shape.gpus} GPU(s)")
                    slurm.stop_if_never_runs(job.job_id, request, shape.gpus)
                except (OSError, subprocess.SubprocessError):
                    state = "UNKNOWN"
                if state not in slurm.ALIVE_STATES and state != "UNKNOWN" and not job.done(force_check=True):
                    failed = JobReturn(overrides=overrides, status=JobStatus.FAILED)
                    failed.return_value = RuntimeError(f"SLURM job {job.job_id} ended ({state or 'left the queue'}) "
                                                       "without a result; run the same command again to redo it.")
                    return failed
            time.sleep(2)
        return job.results()[0]

    def _executor(self, shape):
        """An executor of the preset's parameters with this shape's GPUs and tasks."""
        params: dict[str, Any] = {k: v for k, v in self.params.items() if k not in ("submitit_folder", "max_num_timeout")}
        params.update(gpus_per_node=shape.gpus or None, tasks_per_node=shape.tasks)
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
                                         **{f"{self._EXECUTOR}_max_num_timeout": self.params.get("max_num_timeout", 0)})
        base = {"submitit_folder", "timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb",
                "nodes", "name", "stderr_to_stdout"}
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()
                                      if v is not None})
        return executor


class ShapedSlurmLauncher(_Shaped, SlurmLauncher):
    """``hydra/launcher=slurm``."""


class ShapedLocalLauncher(_Shaped, LocalLauncher):
    """``hydra/launcher=submitit``: the same on this machine (submitit's local executor), for trying a sweep."""
