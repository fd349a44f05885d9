"""Progress reporting and cooperative cancellation for long computations.

Long computations in the engine are generators: they ``yield Progress(...)``
at least every ~0.5 s, check a :class:`Control` between chunks of work, and
``return`` their result. The GUI drives them with superqt generator workers;
scripts and tests drive them with :func:`run_sync`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside an engine generator when the user cancelled the work.

    The partial result is discarded; inputs are left as they were.
    """


@dataclass(frozen=True)
class Progress:
    """One progress report from a long computation.

    Parameters
    ----------
    done : float
        Units of work done so far.
    total : float
        Units of work in all (``done == total`` at the end).
    message : str, optional
        What is being done, for a status line (e.g. ``"SIRT"``).
    stage : str, optional
        Pipeline stage name (``"reconstruct"``, ``"fit"`` ...), for one bar per stage.
    preview : object, optional
        A small intermediate result for a live preview (e.g. the current object
        estimate); ``None`` when there is none.
    """

    done: float
    total: float
    message: str = ""
    stage: str = ""
    preview: Any = None

    @property
    def fraction(self) -> float:
        """Fraction done in [0, 1]."""
        if self.total <= 0:
            return 0.0
        return min(max(self.done / self.total, 0.0), 1.0)


@dataclass
class Control:
    """Flags a caller sets to steer a running computation.

    Attributes
    ----------
    cancelled : threading.Event
        Set to stop at the next check; the computation raises :class:`Cancelled`.
    finish_early : threading.Event
        Set to stop at the next check and return the current estimate.
    """

    cancelled: threading.Event = field(default_factory=threading.Event)
    finish_early: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested.

        Raises
        ------
        Cancelled
            If ``cancelled`` is set.
        """
        if self.cancelled.is_set():
            raise Cancelled

    def cancel(self) -> None:
        """Request cancellation."""
        self.cancelled.set()

    @property
    def should_finish(self) -> bool:
        """True when the caller asked to stop early and keep the current estimate."""
        return self.finish_early.is_set()


def run_sync(
    gen: Generator[Progress, None, T],
    on_progress: Callable[[Progress], None] | None = None,
) -> T:
    """Drive an engine generator to completion and return its result.

    Parameters
    ----------
    gen : generator
        A generator that yields :class:`Progress` and returns a result.
    on_progress : callable, optional
        Called with every yielded :class:`Progress`.

    Returns
    -------
    result : object
        The generator's return value.

    Examples
    --------
    >>> def job(n):
    ...     for i in range(n):
    ...         yield Progress(i + 1, n, "counting")
    ...     return n * 2
    >>> run_sync(job(3))
    6
    """
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def sub_progress(
    gen: Generator[Progress, None, T], start: float, span: float, total: float, stage: str = ""
) -> Generator[Progress, None, T]:
    """Re-scale the progress of a nested generator into a parent's range.

    Parameters
    ----------
    gen : generator
        Nested engine generator.
    start, span : float
        The nested work maps onto ``[start, start + span]`` of the parent's units.
    total : float
        The parent's total.
    stage : str, optional
        Stage name to stamp on the re-scaled reports (kept from the nested report if empty).

    Returns
    -------
    result : object
        The nested generator's return value (use with ``yield from``).
    """
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(start + span * p.fraction, total, p.message, stage or p.stage, p.preview)
