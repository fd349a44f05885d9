"""Reference spectra: two-column ASCII and XDI text files.

Two layouts are read:

* **Plain ASCII**: whitespace (or comma) separated columns, ``#`` comments,
  energy in the first column and the absorption in the second (or in the
  column chosen with ``column``). Energies below 100 are taken as keV and
  converted to eV (hard X-ray K edges; see :data:`KEV_THRESHOLD`).
* **XDI 1.0** (first line ``# XDI/1.0 ...``): ``# Column.N: name [units]``
  header fields, ``# ///`` ending the fields, then free comments and data.
  The absorption is chosen from the named columns (``mu``, ``mutrans``,
  ``normtrans``, ``xmu``, ``norm``, ``mufluor`` in that order) or, for raw
  ion-chamber data, computed as ``ln(i0 / itrans)`` (or ``ifluor / i0``).

Written files are XDI 1.0 with columns ``energy eV`` and ``mu`` and the
valence, when known, in the field ``Ptyxanes.valence``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._atomic import atomic_path
from ptyxanes.io.errors import FormatError

logger = logging.getLogger(__name__)

KEV_THRESHOLD = 100.0
"""Energies whose maximum is below this value are taken as keV (and multiplied by 1000)."""

MU_COLUMNS = ("mu", "mutrans", "normtrans", "xmu", "norm", "mufluor", "normfluor", "mutey")
"""XDI column names that already hold an absorption, in order of preference."""

_FIELD = re.compile(r"^#\s*([A-Za-z][\w]*)\.([\w]+)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Spectrum:
    """An X-ray absorption spectrum.

    Parameters
    ----------
    energy : ndarray of shape (E,)
        Photon energy, eV, strictly increasing.
    mu : ndarray of shape (E,)
        Absorption (raw or normalised; the reader does not normalise).
    name : str
        Sample name (XDI ``Sample.name``, else the file stem).
    valence : float, optional
        Ni oxidation state of the reference when known.
    path : str, optional
        File it was read from.
    meta : dict, optional
        Header fields (XDI ``Namespace.tag`` keys) and ``column`` (what ``mu`` is).
    """

    energy: NDArray[np.float64]
    mu: NDArray[np.float64]
    name: str = ""
    valence: float | None = None
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def read_spectrum(
    path: str | os.PathLike[str],
    *,
    column: str | int | None = None,
    valence: float | None = None,
) -> Spectrum:
    """Read a reference spectrum from a two-column ASCII or an XDI file.

    Parameters
    ----------
    path : path-like
        The text file.
    column : str or int, optional
        Which column is the absorption: an XDI column name (``"mutrans"``,
        ``"murefer"``, ``"itrans"``...), ``"ln(i0/itrans)"``-style expressions
        ``"ln(a/b)"``, or a 0-based column index (0 is energy). By default the
        first of :data:`MU_COLUMNS` present, else ``ln(i0/itrans)``, else
        ``ifluor/i0``, else the second column.
    valence : float, optional
        Valence to attach; overrides any ``valence`` field in the file.

    Returns
    -------
    spectrum : Spectrum
        Energies in eV (converted from keV when the largest energy is below
        :data:`KEV_THRESHOLD`), absorption as chosen.

    Raises
    ------
    FormatError
        If the file is missing or unreadable, holds no numeric table, has
        fewer than two columns or three points, NaN or inf values, energies
        that are not strictly increasing, or an unknown ``column``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ref.txt"
    >>> _ = p.write_text("# NiO\\n8.30 0.0\\n8.34 0.5\\n8.38 1.0\\n")
    >>> s = read_spectrum(p)
    >>> s.energy.tolist(), s.mu.tolist()
    ([8300.0, 8340.0, 8380.0], [0.0, 0.5, 1.0])
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FormatError(p, f"cannot read the file ({exc.strerror or exc})") from exc
    lines = text.splitlines()
    header = [ln for ln in lines if ln.lstrip().startswith("#")]
    body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    is_xdi = bool(lines) and lines[0].lstrip().upper().startswith("# XDI/")
    meta: dict[str, Any] = {}
    names: list[str] = []
    units: dict[int, str] = {}
    if is_xdi:
        names, units, meta = _parse_xdi_header(header)
    table = _parse_table(p, body)
    ncol = table.shape[1]
    if ncol < 2:
        raise FormatError(p, f"needs at least two columns (energy, mu); found {ncol}")
    if table.shape[0] < 3:
        raise FormatError(p, f"needs at least 3 data points; found {table.shape[0]}")
    if not np.all(np.isfinite(table)):
        bad = int(np.argwhere(~np.isfinite(table))[0, 0])
        raise FormatError(p, f"NaN or inf value in data row {bad + 1}")
    if not names:
        names = [f"col{i}" for i in range(ncol)]
        names[0] = "energy"
    names = (names + [f"col{i}" for i in range(len(names), ncol)])[:ncol]
    mu, label = _select_mu(p, table, names, column)
    energy = table[:, 0].astype(np.float64)
    unit0 = units.get(0, "").lower()
    if unit0 == "kev" or (unit0 not in ("ev",) and float(np.max(energy)) < KEV_THRESHOLD):
        energy = energy * 1000.0
        meta["energy_converted_from"] = "keV"
        logger.debug("%s: energies taken as keV", p)
    if np.any(np.diff(energy) <= 0):
        i = int(np.argmax(np.diff(energy) <= 0))
        raise FormatError(
            p,
            f"energies are not strictly increasing (row {i + 2}: {energy[i + 1]:g} eV "
            f"after {energy[i]:g} eV)",
        )
    meta["column"] = label
    name = str(meta.get("Sample.name", "")).strip() or p.stem
    if valence is None:
        valence = _find_valence(meta, header)
    return Spectrum(
        energy=energy, mu=mu.astype(np.float64), name=name, valence=valence, path=str(p), meta=meta
    )


def write_spectrum(
    path: str | os.PathLike[str], spectrum: Spectrum, *, overwrite: bool = False
) -> Path:
    """Write a spectrum as an XDI 1.0 file (energy in eV, mu).

    Parameters
    ----------
    path : path-like
        Destination.
    spectrum : Spectrum
        What to write; ``name`` becomes ``Sample.name``, ``valence`` the field
        ``Ptyxanes.valence``; ``meta`` entries of the form ``Namespace.tag`` are kept.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If energy and mu differ in length, hold NaN/inf or energies are not increasing.
    FileExistsError
        If the file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ni2.xdi"
    >>> s = Spectrum(np.array([8330.0, 8340.0, 8350.0]), np.array([0.0, 0.5, 1.0]), "NiO", 2.0)
    >>> r = read_spectrum(write_spectrum(p, s))
    >>> r.name, r.valence, r.mu.tolist()
    ('NiO', 2.0, [0.0, 0.5, 1.0])
    """
    energy = np.asarray(spectrum.energy, dtype=np.float64)
    mu = np.asarray(spectrum.mu, dtype=np.float64)
    if energy.ndim != 1 or energy.shape != mu.shape:
        raise ValueError(f"energy {energy.shape} and mu {mu.shape} must be 1-D of equal length")
    if not (np.all(np.isfinite(energy)) and np.all(np.isfinite(mu))):
        raise ValueError("energy and mu must be finite")
    if np.any(np.diff(energy) <= 0):
        raise ValueError("energies must be strictly increasing")
    head = ["# XDI/1.0 ptyxanes", "# Column.1: energy eV", "# Column.2: mu"]
    for key, val in sorted(spectrum.meta.items()):
        if _FIELD.match(f"# {key}: x") and not key.startswith("Column.") and "\n" not in str(val):
            if key not in ("Sample.name", "Ptyxanes.valence"):
                head.append(f"# {key}: {val}")
    if spectrum.name:
        head.append(f"# Sample.name: {spectrum.name}")
    if spectrum.valence is not None:
        head.append(f"# Ptyxanes.valence: {spectrum.valence:g}")
    head += ["# ///", "#-----", "#  energy  mu"]
    rows = [f"{e:.6f}  {m:.10g}" for e, m in zip(energy, mu, strict=True)]
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    return Path(path)


def _parse_xdi_header(header: list[str]) -> tuple[list[str], dict[int, str], dict[str, Any]]:
    cols: dict[int, str] = {}
    units: dict[int, str] = {}
    meta: dict[str, Any] = {}
    for ln in header:
        if ln.strip().startswith("# ///") or ln.strip() == "#///":
            break
        m = _FIELD.match(ln.strip())
        if not m:
            continue
        ns, tag, val = m.groups()
        if ns.lower() == "column" and tag.isdigit():
            parts = val.split()
            if parts:
                cols[int(tag) - 1] = parts[0].lower()
                if len(parts) > 1:
                    units[int(tag) - 1] = parts[1]
        else:
            meta[f"{ns}.{tag}"] = val
    n = max(cols) + 1 if cols else 0
    names = [cols.get(i, f"col{i}") for i in range(n)]
    return names, units, meta


def _parse_table(p: Path, body: list[str]) -> NDArray[np.float64]:
    rows: list[list[float]] = []
    for k, ln in enumerate(body):
        parts = ln.replace(",", " ").split()
        try:
            rows.append([float(x) for x in parts])
        except ValueError:
            raise FormatError(p, f"non-numeric data line {k + 1}: {ln.strip()[:60]!r}") from None
    if not rows:
        raise FormatError(p, "no numeric data (not a spectrum file?)")
    width = len(rows[0])
    for k, r in enumerate(rows):
        if len(r) != width:
            raise FormatError(
                p, f"data line {k + 1} has {len(r)} columns, the first has {width} (truncated?)"
            )
    return np.asarray(rows, dtype=np.float64)


def _select_mu(
    p: Path, table: NDArray[np.float64], names: list[str], column: str | int | None
) -> tuple[NDArray[np.float64], str]:
    idx = {n: i for i, n in enumerate(names)}
    if isinstance(column, int | np.integer):
        if not 1 <= int(column) < table.shape[1]:
            raise FormatError(p, f"column {column} out of range (1..{table.shape[1] - 1})")
        return table[:, int(column)], names[int(column)]
    if column is not None:
        col = str(column).strip().lower().replace(" ", "")
        if col in idx and idx[col] > 0:
            return table[:, idx[col]], col
        m = re.fullmatch(r"ln\((\w+)/(\w+)\)", col)
        if m and m.group(1) in idx and m.group(2) in idx:
            return _log_ratio(p, table[:, idx[m.group(1)]], table[:, idx[m.group(2)]]), col
        raise FormatError(p, f"no column {column!r}; columns are {names}")
    for name in MU_COLUMNS:
        if name in idx:
            return table[:, idx[name]], name
    if "i0" in idx and "itrans" in idx:
        return _log_ratio(p, table[:, idx["i0"]], table[:, idx["itrans"]]), "ln(i0/itrans)"
    if "i0" in idx and "ifluor" in idx:
        i0 = table[:, idx["i0"]]
        if np.any(i0 == 0):
            raise FormatError(p, "i0 is zero; cannot compute ifluor/i0")
        return table[:, idx["ifluor"]] / i0, "ifluor/i0"
    return table[:, 1], names[1]


def _log_ratio(p: Path, a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    if np.any(a <= 0) or np.any(b <= 0):
        raise FormatError(p, "non-positive intensities; cannot take the logarithm")
    return np.log(a / b)


def _find_valence(meta: dict[str, Any], header: list[str]) -> float | None:
    for key, val in meta.items():
        if key.lower().endswith(".valence"):
            try:
                v = float(str(val).split()[0])
            except (ValueError, IndexError):
                continue
            if math.isfinite(v):
                return v
    for ln in header:
        m = re.match(r"^#\s*valence\s*[:=]\s*([-+\d.eE]+)", ln.strip(), re.IGNORECASE)
        if m:
            try:
                return float(m.group(1))
            except ValueError:
                continue
    return None
