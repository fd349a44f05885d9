"""Scale out on Dask distributed: the pipeline's scans, energies and pixel blocks as tasks.

In-process remains the default. :class:`ComputeBackend` says where the work
runs (local worker processes or an existing scheduler, e.g. on a SLURM
cluster through dask-jobqueue); :func:`run_pipeline_distributed` runs the
pipeline there, keeping every finished task in a checkpoint directory
(:class:`CheckpointStore`) so that an interrupted run resumes where it
stopped. See docs/distributed.md.
"""

from __future__ import annotations

from ptyxanes.distributed.backend import (
    DEFAULT_WORKER_MEMORY,
    ComputeBackend,
    SchedulerLost,
    dashboard_link,
)
from ptyxanes.distributed.checkpoint import CheckpointStore, file_signature, task_hash
from ptyxanes.distributed.runner import (
    FIT_CHUNK_SPECTRA,
    RunStats,
    default_checkpoint,
    fit_stack_distributed,
    reconstruct_series_distributed,
    reconstruct_tilt_stack_distributed,
    register_stack_distributed,
    run_pipeline_distributed,
)

__all__ = [
    "DEFAULT_WORKER_MEMORY",
    "FIT_CHUNK_SPECTRA",
    "CheckpointStore",
    "ComputeBackend",
    "RunStats",
    "SchedulerLost",
    "dashboard_link",
    "default_checkpoint",
    "file_signature",
    "fit_stack_distributed",
    "reconstruct_series_distributed",
    "reconstruct_tilt_stack_distributed",
    "register_stack_distributed",
    "run_pipeline_distributed",
    "task_hash",
]
