"""A text progress bar for engine generators on the command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import TextIO, TypeVar

from ptyxanes.progress import Progress, run_sync

T = TypeVar("T")


class TextProgressBar:
    """Draw ``Progress`` reports as a one-line bar on a terminal (plain lines otherwise).

    Parameters
    ----------
    label : str
        Prefix of the line.
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    width : int, optional
        Bar width in characters.
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._t0 = time.monotonic()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stage = ""

    def __call__(self, p: Progress) -> None:
        """Draw one report (rate-limited to 10 Hz on a terminal, 1 Hz otherwise)."""
        now = time.monotonic()
        final = p.done >= p.total
        if p.stage != self._stage and self._stage and self._tty:
            self.stream.write("\n")
        self._stage = p.stage
        if not final and now - self._last < (0.1 if self._tty else 1.0):
            return
        self._last = now
        f = p.fraction
        filled = int(round(f * self.width))
        elapsed = now - self._t0
        eta = elapsed * (1 - f) / f if f > 0 else float("nan")
        name = f"{self.label}:{p.stage}" if p.stage else self.label
        line = (
            f"{name} [{'#' * filled}{'.' * (self.width - filled)}] {100 * f:5.1f}% "
            f"{elapsed:6.1f}s eta {eta:6.1f}s {p.message}"
        )
        if self._tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_with_bar(gen: Generator[Progress, None, T], label: str, quiet: bool = False) -> T:
    """Run an engine generator with a progress bar on stderr.

    Parameters
    ----------
    gen : generator
        Engine generator yielding :class:`~ptyxanes.progress.Progress`.
    label : str
        Bar label.
    quiet : bool, optional
        No bar at all.

    Returns
    -------
    result : object
        The generator's return value.
    """
    return run_sync(gen, None if quiet else TextProgressBar(label))
