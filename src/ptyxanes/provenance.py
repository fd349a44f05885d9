"""Provenance records written into every output file."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from typing import Any

import numpy as np

import ptyxanes


def provenance(stage: str, parameters: dict[str, Any] | None = None) -> dict[str, str]:
    """Describe how an output was made.

    Parameters
    ----------
    stage : str
        Processing stage (``"simulate"``, ``"fit"``, ``"reconstruct"`` ...).
    parameters : dict, optional
        The parameters of that stage; stored as JSON (non-JSON values via ``repr``).

    Returns
    -------
    record : dict of str to str
        Keys ``software``, ``version``, ``stage``, ``time`` (ISO 8601, UTC),
        ``python``, ``numpy``, ``platform``, ``command`` and ``parameters`` (JSON).

    Examples
    --------
    >>> rec = provenance("fit", {"method": "halfheight"})
    >>> rec["software"], json.loads(rec["parameters"])["method"]
    ('ptyxanes', 'halfheight')
    """
    return {
        "software": "ptyxanes",
        "version": ptyxanes.__version__,
        "stage": stage,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "parameters": json.dumps(parameters or {}, default=repr, sort_keys=True),
    }
