"""Errors raised by readers and writers."""

from __future__ import annotations

from os import PathLike


class FormatError(ValueError):
    """A file cannot be used: it names the file and what is wrong with it.

    Parameters
    ----------
    path : path-like
        The offending file (or folder).
    problem : str
        What is wrong, in words a user understands
        (e.g. ``"missing dataset /entry/data/data"``).

    Examples
    --------
    >>> str(FormatError("scan.cxi", "energies are not strictly increasing"))
    'scan.cxi: energies are not strictly increasing'
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
