"""Write the MATLAB v7.3 PtychoShelves fixture with hdf5storage (a MATLAB-compatible writer).

Run once with ``hdf5storage`` installed (0.2.2 was used), from the repository root:

    python tests/engine/io/data/make_mat73_fixture.py

It stores what PtychoShelves' ``save(..., 'object', 'p', '-v7.3')`` stores: ``object``
of MATLAB size (rows, cols) complex, and the struct ``p`` with ``energy`` (keV),
``lambda`` (m) and ``dx_spec`` ([row, col], m). hdf5storage, like MATLAB, writes the
column-major array with reversed dimensions, complex as a compound (real, imag), and
a 512-byte MATLAB header.
"""

from __future__ import annotations

from pathlib import Path

import hdf5storage
import numpy as np

HERE = Path(__file__).parent
ENERGY_KEV = 8.3425
PIXEL = 15e-9


def mat_object() -> np.ndarray:
    """(12, 16) complex object: |T| = 0.6 + row/50, phase = -col/8."""
    r, c = np.mgrid[0:12, 0:16]
    return ((0.6 + r / 50) * np.exp(-1j * c / 8)).astype(np.complex128)


if __name__ == "__main__":
    p = {"energy": np.array([[ENERGY_KEV]]), "lambda": np.array([[1.239841984e-6 / (ENERGY_KEV * 1e3)]]),
         "dx_spec": np.array([[PIXEL, PIXEL]])}
    hdf5storage.savemat(str(HERE / "ptychoshelves_v73.mat"), {"object": mat_object(), "p": p},
                        format="7.3", matlab_compatible=True, store_python_metadata=False)
