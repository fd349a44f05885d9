"""Compute options shared by the subcommands: ``--scheduler``, ``--workers``, ``--checkpoint``.

Without ``--scheduler`` or ``--workers`` a command runs in-process, as
before. With either, :func:`pipeline_runner` hands the command's work to
:func:`ptyxanes.distributed.run_pipeline_distributed`; :func:`fit_runner`,
:func:`tomo_runner`, :func:`reconstruct_runner` and :func:`align_runner` do the
same for ``fit``, ``tomo``, ``reconstruct`` and ``align``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Generator
from typing import Any

logger = logging.getLogger(__name__)


def add_compute_options(parser: argparse.ArgumentParser) -> None:
    """Add the compute options to a subcommand's parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    from ptyxanes.distributed.backend import DEFAULT_WORKER_MEMORY

    g = parser.add_argument_group(
        "compute (default: in this process)",
        "Run the scans, energies and pixel blocks as Dask tasks. Workers read the inputs "
        "by path, so on a cluster the input, output and checkpoint folders must be on a shared "
        "file system. See docs/distributed.md.")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                   "(one started by dask-jobqueue on SLURM)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="start N local Dask worker processes (1 thread each)")
    g.add_argument("--worker-memory", default=DEFAULT_WORKER_MEMORY, metavar="SIZE",
                   help=f"memory limit of each local worker, e.g. 4GiB (default {DEFAULT_WORKER_MEMORY})")
    g.add_argument("--checkpoint", metavar="DIR",
                   help="keep finished tasks in DIR and skip them when the same command runs "
                   "again (default: a folder removed after success; `pipeline`: OUTPUT.checkpoint)")


def wants_cluster(args: argparse.Namespace) -> bool:
    """True when ``--scheduler`` or ``--workers`` was given.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    distributed : bool
    """
    return getattr(args, "scheduler", None) is not None or getattr(args, "workers", None) is not None


def backend_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~ptyxanes.distributed.ComputeBackend` the options describe.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    backend : ComputeBackend
    """
    from ptyxanes.distributed import ComputeBackend

    return ComputeBackend(scheduler=args.scheduler, workers=args.workers,
                          memory_limit=args.worker_memory)


def _stopped(args: argparse.Namespace, exc: BaseException) -> SystemExit:
    """One line on stderr for a lost or unreachable scheduler; the exit to raise."""
    lead = "" if getattr(args, "quiet", False) else "\n"  # below the progress bar
    sys.stderr.write(f"{lead}ptyxanes {args.command}: error: {exc}\n")
    return SystemExit(1)


def _dask_twin(args: argparse.Namespace, in_process: Callable[..., Any], name: str
               ) -> Callable[..., Any]:
    """``in_process`` itself, or the Dask function ``name`` of ptyxanes.distributed."""
    if not wants_cluster(args):
        return in_process

    def runner(stack: Any, **kwargs: Any) -> Generator[Any, None, Any]:
        import ptyxanes.distributed as dist

        try:
            return (yield from getattr(dist, name)(
                stack, backend=backend_from_args(args), checkpoint=args.checkpoint, **kwargs))
        except (FileNotFoundError, FileExistsError):
            raise
        except (dist.SchedulerLost, OSError) as exc:
            raise _stopped(args, exc) from None

    return runner


def fit_runner(args: argparse.Namespace, in_process: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`ptyxanes.xanes.fit_stack` or, with a cluster, ``fit_stack_distributed``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (with :func:`add_compute_options`).
    in_process : callable
        :func:`ptyxanes.xanes.fit_stack`.

    Returns
    -------
    runner : callable
        Same call as ``in_process`` (the stack must come from a file).
    """
    return _dask_twin(args, in_process, "fit_stack_distributed")


def tomo_runner(args: argparse.Namespace, in_process: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`ptyxanes.tomo.reconstruct_tilt_stack` or, with a cluster, its Dask twin.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (with :func:`add_compute_options`).
    in_process : callable
        :func:`ptyxanes.tomo.reconstruct_tilt_stack`.

    Returns
    -------
    runner : callable
        Same call as ``in_process`` (the stack must come from a file).
    """
    return _dask_twin(args, in_process, "reconstruct_tilt_stack_distributed")


def reconstruct_runner(args: argparse.Namespace, in_process: Callable[..., Any]
                       ) -> Callable[..., Any]:
    """:func:`ptyxanes.ptycho.series.reconstruct_series` or, with a cluster, one task per scan.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (with :func:`add_compute_options`).
    in_process : callable
        :func:`ptyxanes.ptycho.series.reconstruct_series`.

    Returns
    -------
    runner : callable
        ``runner(scans, params=..., series=...)``.
    """
    return _dask_twin(args, in_process, "reconstruct_series_distributed")


def align_runner(args: argparse.Namespace, in_process: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`ptyxanes.stages.register_stage` or, with a cluster, one task per energy.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (with :func:`add_compute_options`).
    in_process : callable
        :func:`ptyxanes.stages.register_stage`.

    Returns
    -------
    runner : callable
        ``runner(stack, params)`` (the stack must come from a file).
    """
    return _dask_twin(args, in_process, "register_stack_distributed")


def pipeline_runner(args: argparse.Namespace, in_process: Callable[..., Any]) -> Callable[..., Any]:
    """``in_process`` itself, or a Dask runner with its signature when a cluster was asked for.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (with :func:`add_compute_options`).
    in_process : callable
        :func:`ptyxanes.pipeline.run_pipeline`.

    Returns
    -------
    runner : callable
        ``runner(dim, source, output, params, *, start=None, overwrite=False)``
        returning a progress generator.
    """
    if not wants_cluster(args):
        return in_process

    def runner(dim: str, source: Any, output: Any, params: Any = None, *,
               start: str | None = None, overwrite: bool = False) -> Generator[Any, None, Any]:
        from ptyxanes.distributed import SchedulerLost, run_pipeline_distributed

        if start is not None:
            raise ValueError("--from re-runs one stage in this process; leave out "
                             "--scheduler/--workers with it")
        backend = backend_from_args(args)
        logger.info("compute: %s", backend.describe())
        try:
            return (yield from run_pipeline_distributed(
                dim, source, output, params, backend=backend, checkpoint=args.checkpoint,
                overwrite=overwrite))
        except (FileNotFoundError, FileExistsError):
            raise  # the dispatcher prints these
        except (SchedulerLost, OSError) as exc:
            raise _stopped(args, exc) from None

    return runner
