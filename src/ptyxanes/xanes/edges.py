"""Absorption edges of any element: tabulated energies, default windows, labels.

Edge energies come from xraydb (Elam, Ravel and Sieber tables). The default
normalisation and fit windows follow from the edge energy and the edge type:

* **K edges** (and L1): the windows of the Ni K-edge work, offset from the
  tabulated edge ``E_K``: pre-edge ``E_K - 63 … E_K - 33`` eV, fit window
  ``E_K - 8 … E_K + 37`` eV, post-edge ``E_K + 67 … E_K + 87`` eV, edge jump
  measured at ``E_K + 12`` eV. Normalisation by the edge jump (``"jump"``).
* **L3 / L2 edges** of 3d metals: L3 and L2 are only ``E_L2 - E_L3`` apart
  (13 eV for Fe) and their white lines are five to thirty times the
  continuum step, so there is no flat post-edge region between them and the
  step above L2 is within the noise of a single pixel (on the ALS Fe L-edge
  STXM stack the step 725–730 eV minus 700–705 eV is 0.03 OD for the
  end-member references whose L3 white line is 1.1 OD; per pixel it is
  below 2 σ of the pre-edge scatter for 90 % of the Fe-bearing pixels).
  The L-edge windows cover L3 and L2 together (``E_L3 - 3 … E_L2 + 8`` eV) and
  the spectra are normalised by their mean absorption above the pre-edge line
  over that window (``"area"``): the integrated L2,3 intensity, which uses
  every energy of the edge and does not need a post-edge plateau.

Examples
--------
>>> s = edge_spec("Fe-L3")
>>> s.element, s.edge, s.energy, s.normalization
('Fe', 'L3', 706.8, 'area')
>>> edge_spec("Co-K").window
(7701.0, 7746.0)
>>> state_label("Fe", 3)
'Fe³⁺'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Offsets (eV) of the default K-edge windows from the tabulated edge energy: the
#: Ni K-edge windows of the reference data (8270–8300, 8325–8370, 8400–8420, e0 8345
#: around the tabulated 8333 eV).
K_OFFSETS: dict[str, tuple[float, float] | float] = {
    "pre_edge": (-63.0, -33.0), "window": (-8.0, 37.0), "post_edge": (67.0, 87.0), "e0": 12.0}

#: Offsets (eV) of the default L3-edge windows: pre-edge from the L3 energy, fit
#: window from L3 to beyond L2, post-edge above L2 (clipped to the data by the caller).
L_OFFSETS: dict[str, float] = {"pre_lo": -30.0, "pre_hi": -2.0, "win_lo": -3.0,
                               "win_hi_above_l2": 8.0, "post_lo_above_l2": 5.0,
                               "post_hi_above_l2": 25.0}

#: Edges offered in choosers (any ELEMENT-EDGE that xraydb tabulates is accepted).
COMMON_EDGES: tuple[str, ...] = ("Ni-K", "Co-K", "Mn-K", "Fe-K", "Cu-K", "Ti-K", "V-K", "Cr-K",
                                 "Fe-L3", "Mn-L3", "Co-L3", "Ni-L3")

_SUPERSCRIPT = str.maketrans("0123456789+-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻·")


def state_label(element: str, valence: float) -> str:
    """Oxidation-state label with superscripts, e.g. ``Fe²⁺``, ``Ni⁰``.

    Parameters
    ----------
    element : str
        Element symbol.
    valence : float
        Oxidation state.

    Returns
    -------
    label : str

    Examples
    --------
    >>> state_label("Ni", 2.0), state_label("Ni", 0), state_label("Mn", 3.5)
    ('Ni²⁺', 'Ni⁰', 'Mn³·⁵⁺')
    """
    v = float(valence)
    if v == 0:
        return f"{element}⁰"
    txt = f"{abs(v):g}" + ("+" if v > 0 else "-")
    return element + txt.translate(_SUPERSCRIPT)


@dataclass(frozen=True)
class EdgeSpec:
    """An absorption edge and the default windows to fit it.

    Parameters
    ----------
    element : str
        Element symbol (``"Ni"``).
    edge : str
        Edge name (``"K"``, ``"L3"``, ``"L2"``, ``"L1"``).
    energy : float
        Tabulated edge energy, eV.
    pre_edge, window, post_edge : tuple of float
        Default pre-edge, fit and post-edge windows, eV.
    e0 : float
        Energy where the edge jump is measured (``"jump"`` normalisation), eV.
    normalization : {"jump", "area"}
        Edge-jump (K) or mean-absorption-over-the-window (L2,3) normalisation.
    l2_energy : float or None
        Tabulated L2 energy for L3 edges (the overlapping partner), eV.
    """

    element: str
    edge: str
    energy: float
    pre_edge: tuple[float, float]
    window: tuple[float, float]
    post_edge: tuple[float, float]
    e0: float
    normalization: str
    l2_energy: float | None = None

    @property
    def name(self) -> str:
        """``"Fe-L3"``."""
        return f"{self.element}-{self.edge}"

    @property
    def valence_label(self) -> str:
        """Axis / colour-bar label of a valence map, e.g. ``"Fe valence"``."""
        return f"{self.element} valence"

    def state_label(self, valence: float) -> str:
        """``Fe²⁺`` for valence 2 (see :func:`state_label`).

        Parameters
        ----------
        valence : float

        Returns
        -------
        label : str
        """
        return state_label(self.element, valence)

    def describe(self) -> str:
        """One line with the edge and its windows in eV.

        Returns
        -------
        text : str
        """
        return (f"{self.name} edge at {self.energy:.1f} eV; pre-edge {self.pre_edge[0]:.1f}–"
                f"{self.pre_edge[1]:.1f} eV, fit window {self.window[0]:.1f}–{self.window[1]:.1f}"
                f" eV, post-edge {self.post_edge[0]:.1f}–{self.post_edge[1]:.1f} eV, "
                f"{self.normalization} normalisation")


_EDGE_RE = re.compile(r"^\s*([A-Za-z]{1,2})[\s_-]*(K|L1|L2|L3|M\d)\s*$", re.IGNORECASE)


def parse_edge(name: str) -> tuple[str, str]:
    """Split ``"fe-l3"`` into ``("Fe", "L3")``.

    Parameters
    ----------
    name : str
        ``Element-Edge``.

    Returns
    -------
    element, edge : str

    Raises
    ------
    ValueError
        If the text is not an element and an edge.

    Examples
    --------
    >>> parse_edge("ni-k"), parse_edge("Fe L3")
    (('Ni', 'K'), ('Fe', 'L3'))
    """
    m = _EDGE_RE.match(str(name))
    if not m:
        raise ValueError(f"edge {name!r} is not ELEMENT-EDGE (e.g. Ni-K, Co-K, Fe-L3)")
    return m.group(1).capitalize(), m.group(2).upper()


def edge_energy(element: str, edge: str = "K") -> float:
    """Tabulated edge energy from xraydb, eV.

    Parameters
    ----------
    element : str
        Element symbol.
    edge : str, optional
        Edge name.

    Returns
    -------
    energy : float
        eV.

    Raises
    ------
    ValueError
        Unknown element or edge.

    Examples
    --------
    >>> edge_energy("Ni", "K")
    8333.0
    """
    import xraydb

    try:
        e = xraydb.xray_edge(element, edge)
    except Exception as exc:  # xraydb raises ValueError / KeyError for unknown names
        raise ValueError(f"no tabulated {element} {edge} edge") from exc
    if e is None:
        raise ValueError(f"no tabulated {element} {edge} edge")
    return float(e.energy)


def edge_spec(name: str = "Ni-K", *, pre_edge: tuple[float, float] | None = None,
              window: tuple[float, float] | None = None,
              post_edge: tuple[float, float] | None = None,
              e0: float | None = None) -> EdgeSpec:
    """The edge ``name`` with its default windows (each can be overridden).

    Parameters
    ----------
    name : str, optional
        ``"Ni-K"`` (default), ``"Co-K"``, ``"Mn-K"``, ``"Fe-K"``, ``"Fe-L3"`` …
    pre_edge, window, post_edge : tuple of float, optional
        Windows, eV; default from the edge energy and type (module docstring).
    e0 : float, optional
        Edge-jump energy, eV.

    Returns
    -------
    spec : EdgeSpec

    Raises
    ------
    ValueError
        Unknown element or edge.

    Examples
    --------
    >>> s = edge_spec("Ni-K")
    >>> s.pre_edge, s.window, s.post_edge, s.e0
    ((8270.0, 8300.0), (8325.0, 8370.0), (8400.0, 8420.0), 8345.0)
    """
    element, edge = parse_edge(name)
    e = edge_energy(element, edge)
    l2 = None
    if edge in ("L3", "L2"):
        if edge == "L3":
            try:
                l2 = edge_energy(element, "L2")
            except ValueError:
                l2 = None
        top = (l2 if l2 is not None else e)
        o = L_OFFSETS
        d_pre = (e + o["pre_lo"], e + o["pre_hi"])
        d_win = (e + o["win_lo"], top + o["win_hi_above_l2"])
        d_post = (top + o["post_lo_above_l2"], top + o["post_hi_above_l2"])
        d_e0 = top + o["post_lo_above_l2"]
        norm = "area"
    else:
        k = K_OFFSETS
        d_pre = (e + k["pre_edge"][0], e + k["pre_edge"][1])  # type: ignore[index]
        d_win = (e + k["window"][0], e + k["window"][1])  # type: ignore[index]
        d_post = (e + k["post_edge"][0], e + k["post_edge"][1])  # type: ignore[index]
        d_e0 = e + float(k["e0"])  # type: ignore[arg-type]
        norm = "jump"
    for nm, w in (("pre-edge", pre_edge), ("fit", window), ("post-edge", post_edge)):
        if w is not None and not w[1] > w[0]:
            raise ValueError(f"{nm} window {w[0]:g}–{w[1]:g} eV is empty (low must be below high)")
    return EdgeSpec(element, edge, e,
                    tuple(pre_edge) if pre_edge is not None else d_pre,  # type: ignore[arg-type]
                    tuple(window) if window is not None else d_win,  # type: ignore[arg-type]
                    tuple(post_edge) if post_edge is not None else d_post,  # type: ignore[arg-type]
                    float(e0) if e0 is not None else d_e0, norm, l2)


def edge_for_energies(energy: Sequence[float] | NDArray[np.floating],
                      default: str = "Ni-K") -> EdgeSpec:
    """The first of :data:`COMMON_EDGES` whose pre-edge and edge lie inside ``energy``.

    Parameters
    ----------
    energy : array-like of float
        The energies of a stack, eV.
    default : str, optional
        Returned when no listed edge fits (its windows then say what is missing).

    Returns
    -------
    spec : EdgeSpec

    Examples
    --------
    >>> edge_for_energies([700.0, 715.0, 730.0]).name
    'Fe-L3'
    >>> edge_for_energies([8270.0, 8345.0, 8420.0]).name
    'Ni-K'
    """
    e = np.asarray(energy, np.float64)
    lo, hi = float(np.min(e)), float(np.max(e))
    for name in COMMON_EDGES:
        spec = edge_spec(name)
        if lo <= spec.pre_edge[1] and spec.pre_edge[0] <= hi and lo <= spec.energy <= hi:
            return spec
    return edge_spec(default)
