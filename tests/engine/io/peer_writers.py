"""Write reconstruction files the way each peer code writes them (for tests).

Where the peer's writer cannot be installed here, the layout is reproduced from
its source code, named in each function. ptychodus's own writer produced the
committed fixtures in ``data/ptychodus`` (``data/make_ptychodus_fixtures.py``);
:func:`write_ptychodus_h5` / :func:`write_ptychodus_npz` reproduce
``ptychodus.api.io.save_product`` and ``NPZProductFileIO.write`` (ptychodus 1.7.0)
for the twin tests, which need many energies.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np

HC_EV_M = 1.239841984e-6


# ---------------------------------------------------------------- PtyPy (.ptyr)
def _h5rw_store(group: h5py.Group, name: str, value) -> None:
    """ptypy/io/h5rw.py ``_h5write._store``: dict -> group type 'dict', ndarray -> gzip
    dataset type 'array', scalar -> dataset type 'scalar', str -> vlen str type 'string'."""
    if isinstance(value, dict):
        g = group.create_group(name)
        g.attrs["type"] = "dict"
        for k, v in value.items():
            _h5rw_store(g, k, v)
    elif isinstance(value, np.ndarray):
        ds = group.create_dataset(name, data=value, compression="gzip")
        ds.attrs["type"] = "array"
    elif isinstance(value, str):
        ds = group.create_dataset(name, data=value, dtype=h5py.string_dtype())
        ds.attrs["type"] = "string"
    elif value is None:
        ds = group.create_dataset(name, data=np.zeros((1,)))
        ds.attrs["type"] = "None"
    else:
        ds = group.create_dataset(name, data=np.asarray(value))
        ds.attrs["type"] = "scalar"


def write_ptypy(path: Path, obj: np.ndarray, psize: float, energy_kev: float | None,
                n_modes: int = 1) -> Path:
    """A ``.ptyr`` as ``Ptycho.save_run(kind='minimal')`` writes it (ptypy/core/ptycho.py):
    ``h5write(dest, header={'kind', 'description'}, content={'probe': {ID: S._to_dict()},
    'obj': {ID: S._to_dict()}, 'pars': p, 'runtime': ...})``; Storage._to_dict holds
    ``data`` (modes, Y, X) and ``_psize`` (2,) among others; the scan energy in keV is
    ``pars.scans.<name>.data.energy``."""
    data = np.stack([obj] + [obj * 0.1] * (n_modes - 1)).astype(np.complex64)
    storage = {"data": data, "_psize": np.array([psize, psize]),
               "_origin": np.array([-1e-6, -1e-6]), "shape": np.array(data.shape),
               "fill_value": 1.0, "ID": "S00G00", "padonly": 0}
    scan = {"name": "BlockFull", "data": {"name": "Hdf5Loader", "distance": 1.5,
                                          "psize": 75e-6}}
    if energy_kev is not None:
        scan["data"]["energy"] = float(energy_kev)
    content = {
        "probe": {"S00G00": {"data": np.ones((1, 8, 8), np.complex64),
                             "_psize": np.array([psize, psize])}},
        "obj": {"S00G00": storage},
        "pars": {"scans": {"scan00": scan}, "engines": {"engine00": {"name": "DM"}}},
        "runtime": {"iter_info": {"00000": {"iteration": 100}}},
    }
    with h5py.File(path, "w") as f:
        f.attrs["h5rw_version"] = "0.1"
        f.attrs["ctime"] = time.asctime()
        f.attrs["mtime"] = time.asctime()
        _h5rw_store(f, "header", {"kind": "minimal",
                                  "description": "Ptypy .h5 compatible storage format"})
        _h5rw_store(f, "content", content)
        f["content"].attrs["type"] = "param"
    return path


# ---------------------------------------------------------------- PtyREX
def write_ptyrex(path: Path, obj: np.ndarray, dx: float, energy_kev: float | None = None,
                 json_sidecar: bool = True) -> Path:
    """A PtyREX output with the paths nxstacker reads (src/nxstacker/io/ptycho/ptyrex.py):
    7-D ``object_modulus``/``object_phase`` [mode, 0, 0, 0, 0, y, x], ``common_1/dx``,
    ``experiment_1/data/data_ID``, ``common_1/save_dir``. The energy goes to a JSON
    configuration next to it (``process.common.source.energy``, keV)."""
    mod = np.abs(obj)[None, None, None, None, None].astype(np.float32)
    ph = np.angle(obj)[None, None, None, None, None].astype(np.float32)
    with h5py.File(path, "w") as f:
        out = f.create_group("entry_1/process_1/output_1")
        out["object_modulus"] = mod
        out["object_phase"] = ph
        out["probe_modulus"] = np.ones((1, 1, 1, 1, 1, 8, 8), np.float32)
        out["probe_phase"] = np.zeros((1, 1, 1, 1, 1, 8, 8), np.float32)
        com = f.create_group("entry_1/process_1/common_1")
        com["dx"] = np.array([dx, dx])
        com["save_dir"] = str(path.parent)
        f["entry_1/experiment_1/data/data_ID"] = "1"
    if json_sidecar and energy_kev is not None:
        cfg = {"base_dir": str(path.parent),
               "process": {"common": {"source": {"energy": [energy_kev], "px": 4}},
                           "save_prefix": path.stem},
               "experiment": {"detector": {"position": [0, 0, 1.5]}}}
        path.with_suffix(".json").write_text(json.dumps(cfg, indent=2))
    return path


# ---------------------------------------------------------------- ptychodus
def write_ptychodus_h5(path: Path, obj: np.ndarray, pixel: float, energy_ev: float,
                       angle: float = 0.0) -> Path:
    """ptychodus/api/io.py ``save_product``: root attributes, ``object`` (layers, y, x)
    with pixel_width_m/pixel_height_m/center_x_m/center_y_m, ``probe``, positions, losses."""
    with h5py.File(path, "w") as f:
        for k, v in {"name": path.stem, "comments": "", "detector_object_distance_m": 2.0,
                     "photon_energy_eV": energy_ev, "probe_photon_count": 0.0,
                     "exposure_time_s": 0.1, "mass_attenuation_m2_per_kg": 0.0,
                     "tomography_angle_deg": angle, "focus_object_distance_m": 0.0,
                     "tilt_angle_deg": 0.0, "far_field": True}.items():
            f.attrs[k] = v
        f["probe_position_indexes"] = np.arange(3)
        f["probe_position_x_m"] = np.zeros(3)
        f["probe_position_y_m"] = np.zeros(3)
        pr = f.create_dataset("probe", data=np.ones((1, 1, 8, 8), np.complex64))
        pr.attrs["pixel_width_m"] = pixel
        pr.attrs["pixel_height_m"] = pixel
        o = f.create_dataset("object", data=obj[None].astype(np.complex64))
        for k, v in {"center_x_m": 0.0, "center_y_m": 0.0, "pixel_width_m": pixel,
                     "pixel_height_m": pixel}.items():
            o.attrs[k] = v
        f["object_layer_spacing_m"] = np.zeros(0)
        f["loss_epochs"] = np.arange(1)
        f["loss_values"] = np.ones(1)
    return path


def write_ptychodus_npz(path: Path, obj: np.ndarray, pixel: float, energy_ev: float) -> Path:
    """ptychodus/plugins/npz_product_file.py ``NPZProductFileIO.write``: flat arrays."""
    np.savez(path, name=path.stem, comments="", detector_object_distance_m=2.0,
             photon_energy_eV=energy_ev, probe_photon_count=0.0, exposure_time_s=0.1,
             mass_attenuation_m2_per_kg=0.0, tomography_angle_deg=0.0,
             focus_object_distance_m=0.0, tilt_angle_deg=0.0, far_field=True,
             probe_position_indexes=np.arange(3), probe_position_x_m=np.zeros(3),
             probe_position_y_m=np.zeros(3), probe=np.ones((1, 1, 8, 8), np.complex64),
             probe_pixel_width_m=pixel, probe_pixel_height_m=pixel,
             object=obj[None].astype(np.complex64), object_center_x_m=0.0,
             object_center_y_m=0.0, object_pixel_width_m=pixel, object_pixel_height_m=pixel,
             object_layer_spacing_m=np.zeros(0), loss_epochs=np.arange(1),
             loss_values=np.ones(1))
    return path


# ---------------------------------------------------------------- PtychoShelves / fold_slice
def write_ptychoshelves_h5(path: Path, obj: np.ndarray, pixel: float, energy_kev: float) -> Path:
    """fold_slice ptycho/+core/+save/reconstructions_as_h5.m via +io/+HDF/save2hdf5.m:
    complex as an H5T_COMPOUND of 'r' and 'i' (write_dataset.m), MATLAB dimensions
    reversed (fliplr(dims)): a MATLAB (rows, cols) object is an h5py (cols, rows)
    dataset; /reconstruction/object is a soft link to /reconstruction/p/objects/object_0;
    p.energy in keV, p.dx_spec [row, col] in m, p.lambda in m."""
    dt = np.dtype([("r", "<f4"), ("i", "<f4")])
    mat = np.empty(obj.T.shape, dt)
    mat["r"] = obj.T.real
    mat["i"] = obj.T.imag
    with h5py.File(path, "w") as f:
        f.attrs["creator"] = "ptycho_recons"
        p = f.create_group("reconstruction/p")
        p.create_group("objects").create_dataset("object_0", data=mat)
        p.create_group("probes").create_dataset("probe_0", data=np.zeros((8, 8), dt))
        p["energy"] = np.array([[energy_kev]])
        p["lambda"] = np.array([[HC_EV_M / (energy_kev * 1e3)]])
        p["dx_spec"] = np.array([[pixel], [pixel]])  # MATLAB [dy dx] (1x2) reversed
        p["asize"] = np.array([[256], [256]])
        f["reconstruction/object"] = h5py.SoftLink("/reconstruction/p/objects/object_0")
        f["reconstruction/probes"] = h5py.SoftLink("/reconstruction/p/probes/probe_0")
    return path


def write_ptychoshelves_mat(path: Path, obj: np.ndarray, pixel: float, energy_kev: float) -> Path:
    """A MAT v5 file as ptychodus's fold_slice reader expects it
    (ptychodus/plugins/fold_slice/product_file.py: ``object`` (rows, cols), ``probe``
    (rows, cols, modes), struct ``p`` with ``lambda``, ``dx_spec``; fold_slice's
    p.energy in keV; ``outputs`` with probe_positions and fourier_error_out)."""
    import scipy.io

    scipy.io.savemat(path, {
        "object": obj.astype(np.complex64),
        "probe": np.ones((8, 8, 1), np.complex64),
        "p": {"energy": energy_kev, "lambda": HC_EV_M / (energy_kev * 1e3),
              "dx_spec": np.array([pixel, pixel])},
        "outputs": {"probe_positions": np.zeros((3, 2)), "fourier_error_out": np.ones(2)},
    })
    return path


WRITERS = {
    "ptypy": lambda d, k, obj, px, e: write_ptypy(d / f"recon_{k:03d}.ptyr", obj, px, e / 1e3),
    "ptyrex": lambda d, k, obj, px, e: write_ptyrex(d / f"scan_{k:03d}.hdf", obj, px, e / 1e3),
    "ptychodus-h5": lambda d, k, obj, px, e: write_ptychodus_h5(d / f"product_{k:03d}.h5",
                                                                obj, px, e),
    "ptychodus-npz": lambda d, k, obj, px, e: write_ptychodus_npz(d / f"product_{k:03d}.npz",
                                                                  obj, px, e),
    "ptychoshelves-h5": lambda d, k, obj, px, e: write_ptychoshelves_h5(
        d / f"S{k:05d}_recons.h5", obj, px, e / 1e3),
    "ptychoshelves-mat": lambda d, k, obj, px, e: write_ptychoshelves_mat(
        d / f"S{k:05d}_recons.mat", obj, px, e / 1e3),
}
"""format name -> writer(folder, index, object (M, N), pixel m, energy eV) of one file."""


# ---------------------------------------------------------------- Diamond I13-1 raw scans
def write_i13_nxs(path: Path, frames: np.ndarray, x_um: np.ndarray, y_um: np.ndarray,
                  energy_kev: float | None = 9.7, t2_z_mm: float | None = 14500.0,
                  detector: str = "excalibur") -> Path:
    """A GDA scan with the paths of PtyPy's I13 recipe (ptypy/experiment/legacy/I13_ffp.py
    NEXUS_PATHS: frames at entry1/instrument/<detector_name>/data, motors in the
    t1_sxy group, positions in um) and nxstacker's i13-1.yaml detector distance
    (entry1/before_scan/t2/t2_z); the energy path is this reader's assumption."""
    with h5py.File(path, "w") as f:
        e1 = f.create_group("entry1")
        e1.attrs["NX_class"] = "NXentry"
        e1["entry_identifier"] = path.stem
        e1["scan_command"] = "scan t1_sx t1_sy ..."
        det = e1.create_group(f"instrument/{detector}")
        det.attrs["NX_class"] = "NXdetector"
        det.create_dataset("data", data=frames, chunks=(1, *frames.shape[-2:]))
        det["count_time"] = np.full(len(x_um), 0.1)
        mot = e1.create_group("instrument/t1_sxy")
        mot["t1_sx"] = x_um
        mot["t1_sy"] = y_um
        if energy_kev is not None:
            e1["before_scan/dcm1_energy/dcm1_energy"] = energy_kev
        if t2_z_mm is not None:
            e1["before_scan/t2/t2_z"] = t2_z_mm
            e1["before_scan/t2/t2_z"].attrs["units"] = "mm"
        data = e1.create_group(detector)  # the NXdata GDA adds beside the instrument
        data["data"] = h5py.SoftLink(f"/entry1/instrument/{detector}/data")
    return path
