"""Write data/ptypy_minimal.ptyr with PtyPy's own ``Ptycho.save_run`` (kind ``minimal``).

Run once with PtyPy importable (its source tree at commit 1681bec of ptycho/ptypy was
used, on PYTHONPATH, with numpy, scipy and h5py), from the repository root:

    python tests/engine/io/data/make_ptypy_fixture.py

A real reconstruction is not run: real ``Container``/``Storage`` objects hold the
object and probe (as after a run), and the real ``save_run`` writes them through
``ptypy.io.h5write`` exactly as at the end of a reconstruction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ptypy import utils as u
from ptypy.core import Ptycho
from ptypy.core.classes import Base, Container

HERE = Path(__file__).parent


def ptypy_object() -> np.ndarray:
    """(12, 16) object: |T| = 0.7 + row/60, phase = col/12."""
    r, c = np.mgrid[0:12, 0:16]
    return (0.7 + r / 60) * np.exp(1j * (c / 12))


if __name__ == "__main__":
    P = Ptycho.__new__(Ptycho)  # a bare Ptycho: only what save_run reads
    Base.__init__(P, None, "Ptycho")
    P.obj = Container(None, ID="Cobj", data_type="complex")
    S = P.obj.new_storage(ID="SMFG00", shape=(1, 12, 16), psize=12.5e-9)
    S.data[0] = ptypy_object()
    P.probe = Container(None, ID="Cprobe", data_type="complex")
    P.probe.new_storage(ID="SMFG00", shape=(2, 8, 8), psize=12.5e-9)
    p = u.Param()
    p.scans = u.Param()
    p.scans.MF = u.Param(name="BlockFull")
    p.scans.MF.data = u.Param(name="PtyScan", energy=8.3425, distance=1.5, psize=75e-6,
                              shape=128)  # energy in keV, as PtyScan's parameter
    P.p = p
    P.runtime = u.Param(iter_info=[])
    P.record_positions = False
    P.save_run(alt_file=str(HERE / "ptypy_minimal.ptyr"), kind="minimal")
