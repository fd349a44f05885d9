"""Where the work runs: in-process (default), local worker processes, or an existing Dask scheduler.

The GUI and the CLI hold one :class:`ComputeBackend`; :meth:`ComputeBackend.connect`
gives a :class:`distributed.Client` for the duration of a run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # dask is imported only when a cluster is used
    from distributed import Client

logger = logging.getLogger(__name__)

#: Memory limit of each local worker process unless given (Dask pauses a worker
#: at 80 % of it and restarts it at 95 %).
DEFAULT_WORKER_MEMORY = "4GiB"


class SchedulerLost(RuntimeError):
    """The connection to the Dask scheduler was lost; the run can be resumed.

    Parameters
    ----------
    address : str
        The scheduler.
    checkpoint : str
        Directory holding the finished tasks.
    """

    def __init__(self, address: str, checkpoint: str) -> None:
        self.address = address
        self.checkpoint = checkpoint
        super().__init__(
            f"lost the Dask scheduler at {address}; finished tasks are kept in {checkpoint} - "
            f"run the same command with --checkpoint {checkpoint} to resume"
        )


@dataclass(frozen=True)
class ComputeBackend:
    """The compute choice of a run.

    Parameters
    ----------
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``), e.g. one
        started by dask-jobqueue on a SLURM cluster. Takes precedence over
        ``workers``.
    workers : int or None
        Start a :class:`distributed.LocalCluster` of this many worker
        processes on this machine (one thread each).
    memory_limit : str
        Memory of each local worker process (Dask syntax, e.g. ``"4GiB"``).
        The largest task of the paper's 3D job (one scan of 2 500 positions of
        256² frames, or one 375³ SIRT volume) needs about 2-3 GiB.

    Notes
    -----
    Neither ``scheduler`` nor ``workers``: everything runs in this process
    (the default; no Dask needed).
    """

    scheduler: str | None = None
    workers: int | None = None
    memory_limit: str = DEFAULT_WORKER_MEMORY

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"the number of workers must be at least 1, got {self.workers}")

    @property
    def distributed(self) -> bool:
        """True when work goes to Dask workers (a scheduler or local workers)."""
        return self.scheduler is not None or self.workers is not None

    def describe(self) -> str:
        """One line for logs and the GUI's status bar.

        Returns
        -------
        text : str

        Examples
        --------
        >>> ComputeBackend(workers=4).describe()
        '4 local Dask workers (1 thread, 4GiB each)'
        """
        if self.scheduler is not None:
            return f"Dask scheduler at {self.scheduler}"
        if self.workers is not None:
            return (f"{self.workers} local Dask worker{'s' if self.workers > 1 else ''} "
                    f"(1 thread, {self.memory_limit} each)")
        return "in-process"

    @contextlib.contextmanager
    def connect(self, timeout: str = "10s") -> Iterator[Client]:
        """A Dask client for the duration of a ``with`` block.

        Parameters
        ----------
        timeout : str, optional
            How long to try reaching an existing scheduler (Dask syntax, e.g. ``"10s"``).

        Yields
        ------
        client : distributed.Client
            ``client.dashboard_link`` is the dashboard's address.

        Raises
        ------
        ValueError
            In-process backend (nothing to connect to).
        OSError
            The scheduler cannot be reached (message names the address).
        """
        from distributed import Client, LocalCluster

        if not self.distributed:
            raise ValueError("the in-process backend has no Dask client")
        if self.scheduler is not None:
            try:
                client = Client(self.scheduler, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - refused, timed out, unknown host ...
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise OSError(f"cannot reach the Dask scheduler at {self.scheduler}: {reason}") \
                    from exc
            try:
                logger.info("connected to %s (dashboard %s)", self.scheduler,
                            client.dashboard_link)
                yield client
            finally:
                client.close()
            return
        if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
            # Dask logs every worker start and stop at INFO on its own handler; keep
            # the command line quiet unless -v was given (workers read the variable).
            logging.getLogger("distributed").setLevel(logging.WARNING)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        cluster = LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=self.memory_limit,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # a free port; the link is client.dashboard_link
        )
        try:
            client = Client(cluster)
            try:
                logger.info("started %s, dashboard %s", self.describe(), dashboard_link(client))
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


def dashboard_link(client: Any) -> str | None:
    """The dashboard address of a client, or None when it has none.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    link : str or None
    """
    try:
        return str(client.dashboard_link)
    except Exception:  # noqa: BLE001 - no dashboard (not served)
        return None
