"""Write the ptychodus fixtures of tests/engine/io with ptychodus's own writers.

Run once in an environment with ptychodus installed (ptychodus 1.7.0 was used:
``pip install --no-deps ptychodus`` plus numpy, scipy, h5py, scikit-image, pydantic,
hdf5plugin), from the repository root:

    python tests/engine/io/data/make_ptychodus_fixtures.py

Writers used: ``ptychodus.api.io.save_product`` (HDF5) and
``ptychodus.plugins.npz_product_file.NPZProductFileIO.write`` (NPZ). The object is
the analytic pattern of ``tests/engine/io/test_io_ptycho_formats.py::ptychodus_object``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ptychodus.api.geometry import PixelGeometry
from ptychodus.api.io import save_product
from ptychodus.api.object import Object, ObjectCenter
from ptychodus.api.probe import ProbeSequence
from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
from ptychodus.api.product import Product, ProductMetadata
from ptychodus.api.reconstruct import LossValue
from ptychodus.plugins.npz_product_file import NPZProductFileIO

HERE = Path(__file__).parent
ENERGIES = (8330.0, 8345.5)  # eV
PIXEL = (12.5e-9, 12.0e-9)  # m, one per file
ANGLE = 17.5  # deg


def ptychodus_object(k: int) -> np.ndarray:
    """(1, 12, 16) complex object: |T| = 0.5 + row/40 + k/10, phase = col/10 - k/5."""
    r, c = np.mgrid[0:12, 0:16]
    return ((0.5 + r / 40 + k / 10) * np.exp(1j * (c / 10 - k / 5)))[None].astype(np.complex64)


def product(k: int) -> Product:
    meta = ProductMetadata(
        name=f"twin_{k}", comments="ptyxanes fixture", detector_distance_m=2.0,
        photon_energy_eV=ENERGIES[k], probe_photon_count=0.0, exposure_time_s=0.1,
        mass_attenuation_m2_per_kg=0.0, tomography_angle_deg=ANGLE,
    )
    pos = ProbePositionSequence([ProbePosition(i, 1e-7 * i, -1e-7 * i) for i in range(3)])
    probe = ProbeSequence(array=np.ones((1, 4, 4), np.complex64), opr_weights=None,
                          pixel_geometry=PixelGeometry(width_m=PIXEL[k], height_m=PIXEL[k]))
    obj = Object(array=ptychodus_object(k),
                 pixel_geometry=PixelGeometry(width_m=PIXEL[k], height_m=PIXEL[k]),
                 center=ObjectCenter(x_m=0.0, y_m=0.0))
    return Product(metadata=meta, probe_positions=pos, probes=probe, object_=obj,
                   losses=[LossValue(0, 1.0)])


if __name__ == "__main__":
    out = HERE / "ptychodus"
    out.mkdir(exist_ok=True)
    for k in range(2):
        save_product(out / f"product_{k}.h5", product(k))
        NPZProductFileIO().write(out / f"product_{k}.npz", product(k))
