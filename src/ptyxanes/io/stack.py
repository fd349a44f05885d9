"""The in-memory image stack shared by every stage.

A stack is a series of images across X-ray energies: (energy, row, col) for 2D
or (energy, angle, row, col) for a tomographic tilt series, or
(energy, plane, row, col) for reconstructed volumes. ``data`` may be an
``h5py.Dataset`` (read lazily, slice by slice) or an ndarray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

StackKind = Literal["complex", "modulus", "absorption"]
"""What the values are: complex transmission T, its modulus |T|, or an
absorption quantity (−ln|T| for projections, linear attenuation coefficient
in 1/m for volumes) that the XANES fit uses as is."""


@dataclass(frozen=True)
class ImageStack:
    """A spectral image stack with its physical axes.

    Parameters
    ----------
    data : ndarray or h5py.Dataset
        Shape (E, M, N) for 2D, or (E, A, M, N) for tilt series (A angles) or
        volumes (A = planes; then ``angle`` is None and ``dims`` says so).
    energy : ndarray of shape (E,)
        Photon energy of every image, eV, strictly increasing.
    pixel_size : ndarray of shape (E,)
        Pixel (voxel) size of every energy, m.
    kind : {"complex", "modulus", "absorption"}
        What the values are (see :data:`StackKind`).
    angle : ndarray of shape (A,), optional
        Rotation angles of a tilt series, degrees.
    dims : tuple of str, optional
        Axis names, e.g. ``("energy", "row", "col")`` or
        ``("energy", "angle", "row", "col")`` or ``("energy", "plane", "row", "col")``.
    attrs : dict, optional
        Free metadata (sample name, provenance, source file).
    """

    data: Any
    energy: NDArray[np.float64]
    pixel_size: NDArray[np.float64]
    kind: StackKind = "complex"
    angle: NDArray[np.float64] | None = None
    dims: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.dims:
            nd = len(self.data.shape)
            default = ("energy", "row", "col") if nd == 3 else ("energy", "angle", "row", "col")
            object.__setattr__(self, "dims", default)

    @property
    def n_energies(self) -> int:
        """Number of energies E."""
        return int(self.data.shape[0])

    @property
    def is_3d(self) -> bool:
        """True for tilt series and volumes (4-D data)."""
        return len(self.data.shape) == 4

    def image(self, i: int) -> NDArray[Any]:
        """Read the image (or volume) of energy ``i`` into memory.

        Parameters
        ----------
        i : int
            Energy index.

        Returns
        -------
        image : ndarray of shape (M, N) or (A, M, N)
        """
        return np.asarray(self.data[i])
