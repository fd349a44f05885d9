"""The digital twin: simulated datasets with ground truth, at three sizes.

``simulate(dim, size, cycles, level, outdir)`` builds a sample
(:mod:`ptyxanes.simulate.sample`), images it across the Ni K-edge
(:mod:`ptyxanes.simulate.imaging`) and writes, into ``outdir``:

- level ``"stack"``: ``stack.nxs``, a NeXus stack of complex transmission
  images (2D: (E, M, N); 3D: (E, A, M, N)) with per-energy pixel size
  ``lambda z / (N p)``, misalignment shifts and optional photon noise;
- level ``"cxi"``: CXI diffraction scans from :mod:`ptyxanes.simulate.ptycho`;
- ``truth.h5``: the ground truth (see :func:`write_truth`);
- ``references/``: model spectra of Ni0, Ni2+ and Ni3+ (XDI, eV).

Large sizes stream: images are computed and written one energy at a time.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from ptyxanes.io._atomic import atomic_path
from ptyxanes.io.stack import ImageStack
from ptyxanes.progress import Cancelled, Control, Progress
from ptyxanes.provenance import provenance
from ptyxanes.simulate import imaging
from ptyxanes.simulate.sample import HIGH_OX_THRESHOLD, Sample, make_sample, sample_summary
from ptyxanes.simulate.spectra import EDGE_SLOPE_EV_PER_VALENCE, edge_energy, reference_spectra

logger = logging.getLogger(__name__)

#: Pre- and post-edge energies of the paper, eV.
PRE_EDGE: tuple[float, ...] = (8270.0, 8285.0, 8300.0)
POST_EDGE: tuple[float, ...] = (8400.0, 8420.0)
#: The paper's 2D energies: 51 (8325-8370 eV in 1 eV steps plus pre/post edge).
PAPER_ENERGIES_2D: NDArray[np.float64] = np.concatenate(
    [PRE_EDGE, np.arange(8325.0, 8370.5, 1.0), POST_EDGE])
#: The paper's 3D energies: 25 (8341-8360 eV in 1 eV steps plus pre/post edge).
PAPER_ENERGIES_3D: NDArray[np.float64] = np.concatenate(
    [PRE_EDGE, np.arange(8341.0, 8360.5, 1.0), POST_EDGE])


@dataclass(frozen=True)
class TwinSize:
    """Parameters of one simulation size.

    Attributes
    ----------
    name : str
    energies_2d, energies_3d : ndarray
        eV.
    n_angles : int
        Projections over 180 deg (3D).
    window_2d, window_3d : int
        Detector window N (px) of the reconstruction: pixel size ``lambda z / (N p)``.
    photons_per_pixel : float or None
        Photon-counting noise of the stack level (None: noise-free).
    shift_px : (float, float, float)
        Misalignment (per-energy offset, drift amplitude, jitter), px.
    """

    name: str
    energies_2d: NDArray[np.float64]
    energies_3d: NDArray[np.float64]
    n_angles: int
    window_2d: int
    window_3d: int
    photons_per_pixel: float | None
    shift_px: tuple[float, float, float]
    notes: str = ""


SIZES: dict[str, TwinSize] = {
    "tiny": TwinSize(
        "tiny",
        # enough energies inside the XANES fit window (8325-8370 eV) for the 9-parameter edge model
        energies_2d=np.array([8270.0, 8285.0, 8300.0, 8330.0, 8334.0, 8337.0, 8339.0, 8341.0,
                              8343.0, 8345.0, 8347.0, 8349.0, 8352.0, 8356.0, 8362.0, 8370.0,
                              8400.0, 8420.0]),
        energies_3d=np.array([8270.0, 8300.0, *np.arange(8334.0, 8359.0, 2.0), 8400.0, 8420.0]),
        n_angles=19, window_2d=64, window_3d=64, photons_per_pixel=None,
        shift_px=(1.0, 1.0, 0.3), notes="tests: seconds; 100 nm voxels, 3 crystals"),
    "small": TwinSize(
        "small",
        # the tiny size's energies at twice the resolution: 50 nm voxels, 78 nm pixels
        energies_2d=np.array([8270.0, 8285.0, 8300.0, 8330.0, 8334.0, 8337.0, 8339.0, 8341.0,
                              8343.0, 8345.0, 8347.0, 8349.0, 8352.0, 8356.0, 8362.0, 8370.0,
                              8400.0, 8420.0]),
        energies_3d=np.array([8270.0, 8300.0, *np.arange(8334.0, 8359.0, 2.0), 8400.0, 8420.0]),
        n_angles=19, window_2d=128, window_3d=128, photons_per_pixel=None,
        shift_px=(1.0, 1.0, 0.3), notes="resolution tests (2D only): 50 nm voxels, 2 crystals"),
    "demo": TwinSize(
        "demo", energies_2d=PAPER_ENERGIES_2D, energies_3d=PAPER_ENERGIES_3D,
        n_angles=61, window_2d=192, window_3d=128, photons_per_pixel=1e5,
        shift_px=(3.0, 4.0, 0.7), notes="README demo; 40-50 nm voxels, 5-7 crystals"),
    "paper": TwinSize(
        "paper", energies_2d=PAPER_ENERGIES_2D, energies_3d=PAPER_ENERGIES_3D,
        n_angles=241, window_2d=256, window_3d=256, photons_per_pixel=1e5,
        shift_px=(5.0, 8.0, 1.0),
        notes="paper: 40x40 um (2D), 15x15x15 um (3D), 40 nm voxels, 241 angles"),
}

LEVELS: tuple[str, ...] = ("stack", "cxi")


@dataclass(frozen=True)
class TwinFiles:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    outdir : pathlib.Path
    data : list of pathlib.Path
        ``stack.nxs`` or the CXI files.
    truth : pathlib.Path
        ``truth.h5``.
    references : list of pathlib.Path
        Ni0, Ni2+, Ni3+ spectra.
    seconds : float
        Wall time of the simulation.
    """

    outdir: Path
    data: list[Path]
    truth: Path
    references: list[Path]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


class _NoisyStream:
    """Array-like wrapper: per-energy images with photon noise, counting what was computed."""

    def __init__(self, data: Any, photons: float | None, seed: int, control: Control) -> None:
        self.data = data
        self.photons = photons
        self.seed = seed
        self.control = control
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = len(data.shape)
        self.done = 0.0

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, i: Any) -> NDArray[np.complex64]:
        self.control.check()
        idx = tuple(int(k) for k in (i if isinstance(i, tuple) else (i,)))
        img = np.asarray(self.data[idx if len(idx) > 1 else idx[0]])
        if self.photons:
            img = add_photon_noise(img, self.photons, np.random.default_rng([self.seed, 7, *idx]))
        per = self.shape[1] if (self.ndim == 4 and len(idx) == 2) else 1
        self.done = idx[0] + (idx[1] + 1) / per if per > 1 else idx[0] + 1
        return img


def add_photon_noise(t: NDArray[np.complexfloating], photons_per_pixel: float,
                     rng: np.random.Generator) -> NDArray[np.complex64]:
    """Reconstruction-like noise on a complex transmission image.

    The modulus is drawn from the Poisson statistics of ``photons_per_pixel``
    incident photons (``|T|^2`` measured), and the phase gets Gaussian noise
    of the shot-noise limit ``1 / (2 |T| sqrt(n))``.

    Parameters
    ----------
    t : ndarray of complex
    photons_per_pixel : float
    rng : numpy.random.Generator

    Returns
    -------
    noisy : ndarray of complex64

    Examples
    --------
    >>> t = np.full((200, 200), 0.8 * np.exp(0.3j))
    >>> n = add_photon_noise(t, 1e4, np.random.default_rng(0))
    >>> round(float(np.abs(n).std()), 3), round(float(np.abs(n).mean()), 2)
    (0.005, 0.8)
    """
    mod2 = np.abs(t) ** 2
    counts = rng.poisson(mod2 * photons_per_pixel)
    mod = np.sqrt(counts / photons_per_pixel)
    sigma = 1.0 / (2.0 * np.maximum(np.abs(t), 0.05) * np.sqrt(photons_per_pixel))
    phase = np.angle(t) + rng.normal(0.0, 1.0, t.shape) * sigma
    return (mod * np.exp(1j * phase)).astype(np.complex64)


def _check(dim: str, size: str, cycles: int, level: str) -> TwinSize:
    if dim not in ("2d", "3d"):
        raise ValueError(f"dim must be '2d' or '3d'; got {dim!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}; got {size!r}")
    if size == "small" and dim != "2d":
        raise ValueError("size 'small' exists for 2d only; use tiny, demo or paper for 3d")
    if cycles not in (0, 200, 350, 500):
        raise ValueError(f"cycles must be 0, 200, 350 or 500; got {cycles}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    return SIZES[size]


def simulate(
    dim: str,
    size: str,
    cycles: int,
    level: str,
    outdir: str | Path,
    seed: int = 0,
    *,
    photons_per_pixel: float | None | str = "size",
    control: Control | None = None,
) -> Generator[Progress, None, TwinFiles]:
    """Simulate one dataset with its ground truth.

    Parameters
    ----------
    dim : {"2d", "3d"}
        2D spectro-ptychography or 3D (tilt series at every energy).
    size : {"tiny", "demo", "paper"}
        See :data:`SIZES`.
    cycles : {0, 200, 350, 500}
        Ageing state of the sample.
    level : {"stack", "cxi"}
        Reconstructed transmission stacks, or raw ptychography scans.
    outdir : path-like
        Folder to write into (created; existing files are not overwritten).
    seed : int, optional
        Random seed of sample, shifts and noise.
    photons_per_pixel : float or None, optional
        Stack-level noise (default: the size's value; None = noise-free).
    control : Control, optional
        Cancellation.

    Yields
    ------
    progress : Progress

    Returns
    -------
    files : TwinFiles

    Raises
    ------
    ValueError
        For unknown arguments, or ``level="cxi"`` without the ptycho module.
    """
    spec = _check(dim, size, cycles, level)
    if level == "cxi":
        try:
            from ptyxanes.simulate import ptycho
        except ImportError as exc:
            raise ValueError("cxi level needs ptyxanes.simulate.ptycho") from exc
        if not hasattr(ptycho, "simulate_cxi_series"):
            raise ValueError("cxi level needs ptyxanes.simulate.ptycho.simulate_cxi_series")
    control = control or Control()
    t0 = time.monotonic()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    photons = spec.photons_per_pixel if isinstance(photons_per_pixel, str) else photons_per_pixel
    energies = spec.energies_2d if dim == "2d" else spec.energies_3d
    window = spec.window_2d if dim == "2d" else spec.window_3d
    angles = np.linspace(0.0, 180.0, spec.n_angles) if dim == "3d" else None
    n_e = energies.size
    n_a = 0 if angles is None else angles.size
    total = 2.0 + n_a + n_e + 2.0
    params = {"dim": dim, "size": size, "cycles": cycles, "level": level, "seed": seed,
              "photons_per_pixel": photons, "window": window}
    yield Progress(0, total, "building sample", "simulate")
    sample = make_sample(size, cycles, seed, dim=dim)
    control.check()
    yield Progress(2, total, "sample ready", "simulate")
    rng = np.random.default_rng([seed, cycles, 42])
    pixel = imaging.detector_pixel_size(energies, window)
    data_files: list[Path] = []
    shifts: NDArray[np.float64]
    extra_truth: dict[str, Any] = {}
    if level == "cxi":
        gen = ptycho.simulate_cxi_series(sample, energies, out, size=size, angles=angles,
                                         rng=rng, control=control)
        result: Any = None
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            yield Progress(2 + (n_a + n_e) * p.fraction, total, p.message or "ptychography",
                           "simulate")
        data_files = _files_of(result, out)
        shifts = np.asarray(_field(result, "shifts_px", np.zeros((0, 2))), np.float64)
        for key in ("positions", "dose", "probe"):
            val = _field(result, key, None)
            if val is not None:
                extra_truth[key] = val
    else:
        if dim == "2d":
            shifts = imaging.random_shifts(n_e, None, rng, offset_px=spec.shift_px[0],
                                           jitter_px=spec.shift_px[2])
            stack = imaging.project_stack(sample, energies, pixel, shifts=shifts, lazy=True)
        else:
            assert angles is not None
            shifts = imaging.random_shifts(n_e, n_a, rng, offset_px=spec.shift_px[0],
                                           drift_px=spec.shift_px[1], jitter_px=spec.shift_px[2])
            scratch = tempfile.mkdtemp(prefix=".scratch-", dir=out) if size == "paper" else None
            try:
                gen3 = imaging.tilt_paths(sample, angles, scratch=scratch)
                while True:
                    try:
                        i, n = next(gen3)
                    except StopIteration as stop:
                        nodes, paths = stop.value
                        break
                    control.check()
                    yield Progress(2 + i, total, f"projection {i}/{n}", "simulate")
                stack = imaging.tilt_stack_from_paths(sample, energies, angles, nodes, paths,
                                                      shifts=shifts, pixel_size=pixel, lazy=True)
                yield from _write_stack_streaming(out / "stack.nxs", stack, photons, seed,
                                                  control, params, 2 + n_a, total)
            finally:
                if scratch is not None:
                    shutil.rmtree(scratch, ignore_errors=True)
        if dim == "2d":
            yield from _write_stack_streaming(out / "stack.nxs", stack, photons, seed, control,
                                              params, 2 + n_a, total)
        data_files = [out / "stack.nxs"]
    yield Progress(total - 2, total, "writing ground truth", "simulate")
    truth = write_truth(out / "truth.h5", sample, energies=energies, pixel_size=pixel,
                        shifts_px=shifts, angles=angles, params=params, extra=extra_truth)
    refs = write_references(out / "references")
    seconds = time.monotonic() - t0
    yield Progress(total, total, f"done in {seconds:.1f} s", "simulate")
    logger.info("simulated %s %s %d cycles (%s) in %.1f s -> %s", dim, size, cycles, level,
                seconds, out)
    return TwinFiles(out, data_files, truth, refs, seconds, sample_summary(sample))


def _field(result: Any, key: str, default: Any) -> Any:
    if isinstance(result, dict):
        return result.get(key, default)
    return getattr(result, key, default)


def _files_of(result: Any, out: Path) -> list[Path]:
    files = _field(result, "files", None) or _field(result, "paths", None)
    if files:
        return [Path(f) for f in files]
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], (str, Path)):
        return [Path(f) for f in result]
    return sorted(out.glob("*.cxi"))


def _write_stack_streaming(path: Path, stack: ImageStack, photons: float | None, seed: int,
                           control: Control, params: dict[str, Any], start: float,
                           total: float) -> Generator[Progress, None, Path]:
    """Write a lazy stack with ``write_stack`` in a thread, reporting progress per energy."""
    from ptyxanes.io.nexus import write_stack

    inner = Control()
    stream = _NoisyStream(stack.data, photons, seed, inner)
    sh = np.asarray(stack.attrs["shifts_px"], np.float64)
    scale = stack.pixel_size.reshape((-1,) + (1,) * (sh.ndim - 1))
    noisy_stack = ImageStack(
        data=stream, energy=stack.energy, pixel_size=stack.pixel_size, kind="complex",
        angle=stack.angle, dims=stack.dims,
        attrs={"title": f"simulated NMC811, {params['cycles']} cycles ({params['dim']})",
               "sample": f"NMC811 {params['cycles']} cycles", "simulated": True,
               "photons_per_pixel": photons})
    extra = {"shifts_px": sh, "shifts_m": sh * scale}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            write_stack(path, noisy_stack, extra=extra, provenance=provenance("simulate", params))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the generator
            errors.append(exc)

    th = threading.Thread(target=work, name="ptyxanes-write-stack", daemon=True)
    th.start()
    n = stack.n_energies
    try:
        while th.is_alive():
            th.join(0.2)
            if control.cancelled.is_set():
                inner.cancel()
            yield Progress(start + stream.done, total, f"energy {int(stream.done)}/{n}", "simulate")
    finally:
        if th.is_alive():
            inner.cancel()
            th.join()
    if errors:
        raise errors[0]
    control.check()
    return path


def write_references(folder: str | Path, *, overwrite: bool = True) -> list[Path]:
    """Write the model Ni0, Ni2+ and Ni3+ spectra as XDI files (two columns, eV).

    Parameters
    ----------
    folder : path-like
    overwrite : bool, optional

    Returns
    -------
    paths : list of pathlib.Path
        ``Ni0_metal.xdi``, ``Ni2_NiO.xdi``, ``Ni3_LiNiO2.xdi``.
    """
    from ptyxanes.io.spectra import write_spectrum

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {0.0: "Ni0_metal.xdi", 2.0: "Ni2_NiO.xdi", 3.0: "Ni3_LiNiO2.xdi"}
    out = []
    for v, spec in reference_spectra().items():
        out.append(write_spectrum(folder / names[v], spec, overwrite=overwrite))
    return out


def write_truth(
    path: str | Path,
    sample: Sample,
    *,
    energies: NDArray[np.float64],
    pixel_size: NDArray[np.float64],
    shifts_px: NDArray[np.float64],
    angles: NDArray[np.float64] | None = None,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the ground truth of a simulation as HDF5.

    Layout (lengths in m, valence in units of e, energies in eV, angles in deg):

    - ``/volume/valence`` (P, M, N) float32, NaN outside crystals;
      ``/volume/crystal_labels`` int32 (0 empty); ``/volume/high_ox`` uint8
      (valence > 3.0); ``/volume/slab_mask`` uint8; attrs ``voxel_size``.
    - ``/crystals/c_axes`` (n, 3) unit vectors (plane, row, col);
      ``/crystals/mean_valence`` (n,).
    - ``/projection/valence`` (M, N) Ni-weighted mean along the beam (NaN empty),
      ``/projection/thickness`` (M, N) m, ``/projection/high_ox`` (projected
      valence > 3.0), ``/projection/crystal_labels`` (first crystal along the
      beam), all on the voxel grid; ``/projection_data_grid/*`` the same
      resampled onto the data grid of energy 0 (pixel ``pixel_size[0]``, no shift).
    - ``/acquisition/energy``, ``/acquisition/pixel_size`` (E,),
      ``/acquisition/angle`` (A,) for 3D, ``/acquisition/shifts_px`` (E, 2) or
      (E, A, 2) (row, col; image content moved by +shift) and ``shifts_m``.
    - ``/spectra/energy``, ``/spectra/mu`` (3, E) and ``/spectra/valence`` (3,).
    - root attributes: cycles, dim, mean_valence, high_ox_threshold,
      edge_slope_eV_per_valence, provenance fields.

    Returns
    -------
    path : pathlib.Path
    """
    params = dict(params or {})
    summary = sample_summary(sample)
    pv = sample.projected_valence()
    thick = sample.thickness()
    labels2 = _first_label(sample.crystal_labels)
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        for k, v in provenance("simulate", params).items():
            f.attrs[k] = v
        f.attrs["cycles"] = sample.cycles
        f.attrs["dim"] = sample.dim
        f.attrs["mean_valence"] = summary["mean_valence"]
        f.attrs["high_ox_threshold"] = HIGH_OX_THRESHOLD
        f.attrs["edge_slope_eV_per_valence"] = EDGE_SLOPE_EV_PER_VALENCE
        f.attrs["edge_energy_ni2_eV"] = edge_energy(2.0)
        f.attrs["summary"] = json.dumps(summary)
        comp: dict[str, Any] = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
        vol = f.create_group("volume")
        vol.attrs["voxel_size"] = sample.voxel_size
        vol.attrs["axes"] = ["plane", "row", "col"]
        vol.create_dataset("valence", data=sample.valence, chunks=True, **comp)
        vol.create_dataset("crystal_labels", data=sample.crystal_labels, chunks=True, **comp)
        vol.create_dataset("high_ox", data=sample.high_ox.astype(np.uint8), chunks=True, **comp)
        if sample.slab_mask is not None:
            vol.create_dataset("slab_mask", data=sample.slab_mask.astype(np.uint8), chunks=True,
                               **comp)
        cr = f.create_group("crystals")
        cr.create_dataset("c_axes", data=sample.c_axes)
        cr.create_dataset("mean_valence", data=sample.crystal_means())
        pr = f.create_group("projection")
        pr.attrs["pixel_size"] = sample.voxel_size
        pr.create_dataset("valence", data=pv.astype(np.float32))
        pr.create_dataset("thickness", data=thick)
        pr.create_dataset("high_ox", data=(np.nan_to_num(pv) > HIGH_OX_THRESHOLD).astype(np.uint8))
        pr.create_dataset("crystal_labels", data=labels2)
        dg = f.create_group("projection_data_grid")
        px0 = float(pixel_size[0])
        shape = imaging._out_shape(thick.shape, sample.voxel_size, float(np.mean(pixel_size)))
        dg.attrs["pixel_size"] = px0
        w = imaging._resample(thick, sample.voxel_size, px0, shape)
        vw = imaging._resample(np.nan_to_num(pv) * thick, sample.voxel_size, px0, shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            pvd = np.where(w > 0.02 * max(thick.max(), 1e-12), vw / np.where(w > 0, w, 1), np.nan)
        dg.create_dataset("valence", data=pvd.astype(np.float32))
        dg.create_dataset("thickness", data=w)
        dg.create_dataset("high_ox", data=(np.nan_to_num(pvd) > HIGH_OX_THRESHOLD).astype(np.uint8))
        acq = f.create_group("acquisition")
        acq.create_dataset("energy", data=np.asarray(energies, np.float64)).attrs["units"] = "eV"
        acq.create_dataset("pixel_size", data=np.asarray(pixel_size, np.float64)).attrs["units"] = "m"
        if angles is not None:
            acq.create_dataset("angle", data=np.asarray(angles, np.float64)).attrs["units"] = "deg"
        sh = np.asarray(shifts_px, np.float64)
        acq.create_dataset("shifts_px", data=sh).attrs["units"] = "px (row, col)"
        if sh.size and sh.shape[0] == len(pixel_size):
            scale = np.asarray(pixel_size).reshape((-1,) + (1,) * (sh.ndim - 1))
            acq.create_dataset("shifts_m", data=sh * scale).attrs["units"] = "m (row, col)"
        for k, v in (extra or {}).items():
            try:
                acq.create_dataset(str(k), data=np.asarray(v))
            except (TypeError, ValueError):
                acq.attrs[str(k)] = repr(v)
        refs = reference_spectra()
        sp = f.create_group("spectra")
        vals = sorted(refs)
        sp.create_dataset("energy", data=refs[vals[0]].energy)
        sp.create_dataset("mu", data=np.stack([refs[v].mu for v in vals]))
        sp.create_dataset("valence", data=np.asarray(vals))
    return Path(path)


def _first_label(labels: NDArray[np.int32]) -> NDArray[np.int32]:
    """Label of the first crystal met along the beam (plane axis), 0 where empty."""
    occ = labels > 0
    first = np.argmax(occ, axis=0)
    lab = np.take_along_axis(labels, first[None], axis=0)[0]
    return np.where(occ.any(axis=0), lab, 0).astype(np.int32)


def read_truth(path: str | Path) -> dict[str, Any]:
    """Read a ``truth.h5`` into a dict of arrays (``"volume/valence"`` ...) plus ``"attrs"``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    truth : dict
    """
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]

        f.visititems(visit)
    return out


def run(dim: str, size: str, cycles: int, level: str, outdir: str | Path, seed: int = 0,
        **kw: Any) -> TwinFiles:
    """Run :func:`simulate` to completion (scripts and tests).

    Returns
    -------
    files : TwinFiles
    """
    from ptyxanes.progress import run_sync

    return run_sync(simulate(dim, size, cycles, level, outdir, seed, **kw))


__all__ = ["SIZES", "TwinSize", "TwinFiles", "simulate", "run", "write_truth", "read_truth",
           "write_references", "add_photon_noise", "PAPER_ENERGIES_2D", "PAPER_ENERGIES_3D",
           "Cancelled"]
