"""A checkpoint directory: one small atomic ``.npz`` file per finished task.

Each file is named by the task (stage and index) and a hash of everything
that determines its result (parameters, input file, its size and time), so
a changed parameter or input never picks up a stale result. A run that is
interrupted (cancelled, killed, scheduler lost) is resumed by running the same
command again with the same checkpoint directory: finished tasks are loaded,
not recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)


def _plain(obj: Any) -> Any:
    """JSON-able version of parameters (dataclasses, arrays, paths, tuples)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {"__class__": type(obj).__name__, **_plain(asdict(obj))}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"sha1": hashlib.sha1(np.ascontiguousarray(obj).tobytes()).hexdigest(),
                "shape": list(obj.shape), "dtype": str(obj.dtype)}
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def file_signature(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Identity of an input file for a checkpoint key: absolute path, size (bytes), mtime (ns).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    signature : dict
    """
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def task_hash(*parts: Any) -> str:
    """Short hash (12 hex digits) of parameters and input signatures.

    Parameters
    ----------
    *parts : object
        Dataclasses, dicts, arrays, numbers, strings.

    Returns
    -------
    digest : str

    Examples
    --------
    >>> task_hash({"a": 1}) == task_hash({"a": 1}), task_hash({"a": 1}) == task_hash({"a": 2})
    (True, False)
    """
    text = json.dumps(_plain(list(parts)), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


class CheckpointStore:
    """Finished tasks kept as ``<directory>/<key>.npz`` (written atomically).

    Parameters
    ----------
    directory : path-like
        Created if missing. Must be on a file system the client can write; the
        workers read their inputs by path, so on a cluster use a shared one.

    Examples
    --------
    >>> import tempfile
    >>> store = CheckpointStore(tempfile.mkdtemp())
    >>> store.save("fit-00000-abc", {"x": np.arange(3)})
    >>> store.has("fit-00000-abc"), int(store.load("fit-00000-abc")["x"].sum())
    (True, 3)
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """File of a task.

        Parameters
        ----------
        key : str

        Returns
        -------
        path : pathlib.Path
        """
        return self.directory / f"{key}.npz"

    def has(self, key: str) -> bool:
        """True when the task's result is stored.

        Parameters
        ----------
        key : str

        Returns
        -------
        stored : bool
        """
        return self.path(key).is_file()

    def save(self, key: str, arrays: Mapping[str, Any]) -> None:
        """Store a task's arrays (temporary file in the same folder, then rename).

        Parameters
        ----------
        key : str
        arrays : mapping of str to array_like
        """
        dest = self.path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # numpy's stub types **kwds like allow_pickle
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load(self, key: str) -> dict[str, NDArray[Any]]:
        """Read a stored task.

        Parameters
        ----------
        key : str

        Returns
        -------
        arrays : dict of str to ndarray
        """
        with np.load(self.path(key), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def keys(self) -> list[str]:
        """Keys of every stored task, sorted.

        Returns
        -------
        keys : list of str
        """
        return sorted(p.stem for p in self.directory.glob("*.npz"))
