"""The Ni oxidation-state colour map: Ni²⁺ blue → Ni³⁺ yellow → >Ni³⁺ red.

Shared by the GUI (pyqtgraph, napari) and the matplotlib figures so that a
valence looks the same everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.colors import ListedColormap

#: Default colour limits of valence maps (the paper's Ni²⁺ → >Ni³⁺ range).
VALENCE_LIMITS: tuple[float, float] = (2.0, 3.5)

#: Anchor colours (position in [0, 1], RGB in [0, 1]) of the valence map.
VALENCE_ANCHORS: tuple[tuple[float, tuple[float, float, float]], ...] = (
    (0.00, (0.09, 0.16, 0.62)),  # deep blue: Ni2+
    (0.25, (0.12, 0.50, 0.93)),  # blue
    (0.45, (0.30, 0.80, 0.75)),  # teal
    (0.62, (0.98, 0.90, 0.25)),  # yellow: ~Ni3+
    (0.80, (0.97, 0.50, 0.12)),  # orange
    (1.00, (0.72, 0.05, 0.08)),  # red: >Ni3+
)


def valence_lut(n: int = 256) -> NDArray[np.uint8]:
    """Return the valence colour map as a lookup table.

    Parameters
    ----------
    n : int, optional
        Number of entries.

    Returns
    -------
    lut : ndarray of shape (n, 4), uint8
        RGBA, opaque, from Ni²⁺ (index 0) to >Ni³⁺ (index n - 1).

    Examples
    --------
    >>> lut = valence_lut(5)
    >>> lut.shape, bool(lut[0, 2] > lut[0, 0]), bool(lut[-1, 0] > lut[-1, 2])
    ((5, 4), True, True)
    """
    pos = np.array([a[0] for a in VALENCE_ANCHORS])
    rgb = np.array([a[1] for a in VALENCE_ANCHORS])
    x = np.linspace(0.0, 1.0, n)
    out = np.empty((n, 4), dtype=np.uint8)
    for c in range(3):
        out[:, c] = np.round(255 * np.interp(x, pos, rgb[:, c]))
    out[:, 3] = 255
    return out


def valence_mpl_colormap(n: int = 256) -> ListedColormap:
    """Return the valence colour map as a matplotlib ``ListedColormap``.

    Parameters
    ----------
    n : int, optional
        Number of colours.

    Returns
    -------
    cmap : matplotlib.colors.ListedColormap
        Named ``"ptyxanes_valence"``; NaN (outside the sample) is drawn transparent.
    """
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(valence_lut(n)[:, :3] / 255.0, name="ptyxanes_valence")
    cmap.set_bad((0, 0, 0, 0))
    return cmap
