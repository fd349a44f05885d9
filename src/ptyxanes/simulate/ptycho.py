"""Forward model of far-field X-ray ptychography (the digital twin's ``cxi`` level).

Optics (paper Methods, I13-1): a Fresnel zone plate of 400 µm diameter and
200 nm outermost zone focuses the beam; the sample sits a little downstream of
the focus where the spot is about 2 µm; an EIGER photon-counting detector with
75 µm pixels is 5 m downstream. The reconstruction pixel of a cropped detector
window of N pixels is ``lambda z / (N p)``.

Model, per exposure:

* probe ``P`` at the sample: the zone plate's circular pupil (bright-field disc
  of radius ``1 / (2 dr)`` in spatial frequency) propagated by ``defocus`` past
  the focus (Fresnel transfer function);
* exit wave ``psi = P(r - r_j) T(r)`` with the twin's complex transmission
  ``T`` sampled at the reconstruction pixel of that energy;
* far field ``I = |F psi|^2`` (unitary FFT, centred on the detector window);
* fly scan: the sample moves along the column axis during each exposure, so
  the pattern is the incoherent mean over ``fly_subpositions`` sub-positions
  spread over one step (sub-pixel via a Fourier-shifted probe) -- the reason
  mixed-state probes help;
* raster scan with position jitter; the recorded (encoder) positions are the
  true ones, quantised to the object pixel of the energy (the sub-pixel part of
  position errors is not simulated);
* Poisson photon counting at a dose (photons per exposure) and a bad-pixel mask
  (masked pixels read 0).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from ptyxanes.progress import Control, Progress

logger = logging.getLogger(__name__)

#: Sample-detector distance, m (I13-1).
DISTANCE: float = 5.0
#: EIGER 500k pixel, m.
DETECTOR_PIXEL: float = 75e-6
HC_EV_M: float = 1.239841984e-6


def wavelength(energy: float) -> float:
    """Photon wavelength, m, of an energy in eV.

    Examples
    --------
    >>> round(wavelength(8333.0) * 1e10, 4)
    1.4879
    """
    return HC_EV_M / float(energy)


def object_pixel(
    energy: float,
    window: int,
    *,
    distance: float = DISTANCE,
    detector_pixel: float = DETECTOR_PIXEL,
) -> float:
    """Reconstruction pixel size ``lambda z / (N p)``, m.

    Examples
    --------
    >>> round(object_pixel(8340.0, 128) * 1e9, 2)
    77.43
    """
    return wavelength(energy) * distance / (window * detector_pixel)


def defocus_for_spot(energy: float, spot: float, *, outer_zone: float = 200e-9) -> float:
    """Distance downstream of the focus where the geometric spot has diameter ``spot``, m.

    The converging cone has half-angle ``NA = lambda / (2 dr)``, so the spot
    diameter at defocus ``dz`` is ``2 NA dz = lambda dz / dr``.

    Examples
    --------
    >>> round(defocus_for_spot(8340.0, 2e-6) * 1e3, 2)  # mm
    2.69
    """
    return spot * outer_zone / wavelength(energy)


def fzp_probe(
    energy: float,
    shape: tuple[int, int] | int,
    pixel_size: float,
    *,
    diameter: float = 400e-6,
    outer_zone: float = 200e-9,
    defocus: float | None = None,
    spot: float = 2e-6,
    central_stop: float = 0.0,
) -> NDArray[np.complex64]:
    """Fresnel-zone-plate probe at the sample plane (downstream of the focus).

    Parameters
    ----------
    energy : float
        Photon energy, eV.
    shape : int or (int, int)
        Probe window (rows, cols), pixels.
    pixel_size : float
        Sample-plane pixel, m.
    diameter : float, optional
        Zone-plate diameter D, m (the focal length is ``f = D dr / lambda``).
    outer_zone : float, optional
        Outermost zone width dr, m; the pupil has radius ``1 / (2 dr)`` in
        spatial frequency.
    defocus : float, optional
        Sample distance downstream of the focus, m (default from ``spot``).
    spot : float, optional
        Wanted spot diameter, m, used when ``defocus`` is None.
    central_stop : float, optional
        Central-stop diameter as a fraction of the zone-plate diameter.

    Returns
    -------
    probe : ndarray of complex64, shape (rows, cols)
        Centred in the window, normalised to ``sum |P|^2 = 1``.

    Examples
    --------
    >>> p = fzp_probe(8340.0, 64, 150e-9, spot=1e-6)
    >>> round(float((np.abs(p) ** 2).sum()), 3)
    1.0
    """
    rows, cols = (shape, shape) if isinstance(shape, int) else shape
    lam = wavelength(energy)
    dz = defocus_for_spot(energy, spot, outer_zone=outer_zone) if defocus is None else defocus
    qy = sfft.fftfreq(rows, pixel_size)[:, None]
    qx = sfft.fftfreq(cols, pixel_size)[None, :]
    q2 = qy**2 + qx**2
    qmax = 1.0 / (2.0 * outer_zone)
    pupil = (q2 <= qmax**2).astype(np.float64)
    if central_stop > 0:
        pupil *= q2 >= (central_stop * qmax) ** 2
    field = pupil * np.exp(-1j * np.pi * lam * dz * q2)
    probe = sfft.fftshift(sfft.ifft2(field))
    probe /= np.sqrt((np.abs(probe) ** 2).sum())
    logger.debug("FZP probe: f=%.3f m, defocus %.2f mm", diameter * outer_zone / lam, dz * 1e3)
    return probe.astype(np.complex64)


@dataclass(frozen=True)
class PtychoGeometry:
    """Scan and detector geometry of one twin size.

    Attributes
    ----------
    window : int
        Detector window N (pixels on a side).
    step : (float, float)
        Scan step (row, col), m.
    spot : float
        Probe spot diameter, m.
    photons : float
        Photons per exposure (dose).
    fly : bool
        Fly scan (continuous motion along the column axis) or step raster.
    fly_subpositions : int
        Sub-positions per exposure that model the motion blur.
    jitter : float
        RMS position jitter, m.
    bad_pixels : int
        Number of dead pixels in the mask (plus one dead column).
    margin : float
        Scan extends this far beyond the sample field of view on each side, m.
    distance, detector_pixel : float
        m.
    """

    window: int
    step: tuple[float, float]
    spot: float
    photons: float
    fly: bool = True
    fly_subpositions: int = 5
    jitter: float = 20e-9
    bad_pixels: int = 20
    margin: float = 0.4e-6
    distance: float = DISTANCE
    detector_pixel: float = DETECTOR_PIXEL


#: Geometry of each twin size (the paper: 0.2 µm horizontal and 0.4 µm vertical steps).
#: ``tiny`` (tests) uses a high dose so that its accuracy is set by the algorithm,
#: not by photon noise (the pre-edge -ln|T| range of the tiny sample is only ~0.02).
GEOMETRIES: dict[str, PtychoGeometry] = {
    "tiny": PtychoGeometry(
        window=64, step=(0.4e-6, 0.4e-6), spot=1.0e-6, photons=1e8, fly=False, jitter=20e-9
    ),
    "small": PtychoGeometry(
        window=128, step=(0.4e-6, 0.4e-6), spot=1.0e-6, photons=1e8, fly=False, jitter=20e-9
    ),
    "demo": PtychoGeometry(window=128, step=(0.4e-6, 0.3e-6), spot=2.0e-6, photons=5e6),
    "paper": PtychoGeometry(window=256, step=(0.4e-6, 0.2e-6), spot=2.0e-6, photons=1e7),
}


def scan_positions(
    extent: tuple[float, float],
    step: tuple[float, float],
    *,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
    snake: bool = False,
) -> NDArray[np.float64]:
    """Raster positions covering ``extent`` centred on 0, plus jitter.

    Parameters
    ----------
    extent : (float, float)
        Scanned (rows, cols) size, m.
    step : (float, float)
        (row, col) step, m.
    jitter : float, optional
        RMS random displacement of every position, m.
    rng : numpy.random.Generator, optional
    snake : bool, optional
        Alternate the column direction on every row.

    Returns
    -------
    positions : ndarray of shape (P, 2)
        (row, col), m.

    Examples
    --------
    >>> scan_positions((1e-6, 1e-6), (0.5e-6, 0.5e-6)).shape
    (9, 2)
    """
    ny = int(np.floor(extent[0] / step[0] + 1e-9)) + 1
    nx = int(np.floor(extent[1] / step[1] + 1e-9)) + 1
    ys = (np.arange(ny) - (ny - 1) / 2) * step[0]
    xs = (np.arange(nx) - (nx - 1) / 2) * step[1]
    pos: list[tuple[float, float]] = []
    for i, y in enumerate(ys):
        row = xs[::-1] if (snake and i % 2) else xs
        pos.extend((y, x) for x in row)
    out = np.asarray(pos, dtype=np.float64)
    if jitter > 0:
        rng = rng or np.random.default_rng()
        out = out + rng.normal(0.0, jitter, out.shape)
    return out


def bad_pixel_mask(shape: tuple[int, int], n: int, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Detector mask: ``n`` random dead pixels and one dead column (True = bad).

    Examples
    --------
    >>> int(bad_pixel_mask((8, 8), 0, np.random.default_rng(0)).sum())
    8
    """
    mask = np.zeros(shape, dtype=bool)
    if n > 0:
        mask.flat[rng.choice(mask.size, size=n, replace=False)] = True
    mask[:, int(rng.integers(shape[1] // 8, shape[1] // 3))] = True
    return mask


def _shift_probe(probe: NDArray[np.complexfloating], dy: float, dx: float) -> NDArray[Any]:
    if dy == 0 and dx == 0:
        return probe
    qy = sfft.fftfreq(probe.shape[-2])[:, None]
    qx = sfft.fftfreq(probe.shape[-1])[None, :]
    ramp = np.exp(-2j * np.pi * (qy * dy + qx * dx))
    return sfft.ifft2(sfft.fft2(probe) * ramp)


def simulate_diffraction(
    obj: NDArray[np.complexfloating],
    probe: NDArray[np.complexfloating],
    positions_px: NDArray[np.floating],
    *,
    photons: float | None = None,
    fly_step_px: float = 0.0,
    fly_subpositions: int = 1,
    mask: NDArray[np.bool_] | None = None,
    rng: np.random.Generator | None = None,
) -> NDArray[Any]:
    """Far-field diffraction patterns of a probe scanned over an object.

    Parameters
    ----------
    obj : ndarray of complex, shape (M, N)
        Complex transmission.
    probe : ndarray of complex, shape (H, W)
        Probe, ``sum |P|^2`` = photons per exposure before the object when
        ``photons`` is None.
    positions_px : ndarray of shape (P, 2)
        Top-left corners (row, col) of the probe window in the object, pixels
        (integers; the fly motion adds sub-pixel offsets).
    photons : float, optional
        Scale the probe to this many photons per exposure and draw Poisson
        counts; None gives the noise-free expected intensity.
    fly_step_px : float, optional
        Column distance travelled during one exposure, pixels (0: step scan).
    fly_subpositions : int, optional
        Sub-positions of the incoherent sum along the motion.
    mask : ndarray of bool, shape (H, W), optional
        Bad pixels (set to 0).
    rng : numpy.random.Generator, optional

    Returns
    -------
    data : ndarray of shape (P, H, W)
        Detector-centred intensities: float32 expectation, or uint32 counts.

    Raises
    ------
    ValueError
        If a probe window leaves the object.
    """
    h, w = probe.shape
    pos = np.rint(np.asarray(positions_px, dtype=np.float64)).astype(int)
    if (
        pos.min() < 0
        or (pos[:, 0] + h).max() > obj.shape[0]
        or (pos[:, 1] + w).max() > obj.shape[1]
    ):
        raise ValueError("probe positions leave the object array")
    p = probe.astype(np.complex128)
    if photons is not None:
        p = p * np.sqrt(photons / (np.abs(p) ** 2).sum())
    n_sub = max(1, int(fly_subpositions)) if fly_step_px > 0 else 1
    offsets = (np.arange(n_sub) - (n_sub - 1) / 2) * (fly_step_px / n_sub) if n_sub > 1 else [0.0]
    probes = np.stack([_shift_probe(p, 0.0, float(o)) for o in offsets])
    out = np.empty((len(pos), h, w), dtype=np.float64)
    for j, (r, c) in enumerate(pos):
        exit_ = probes * obj[r : r + h, c : c + w][None]
        far = sfft.fft2(exit_, norm="ortho", workers=-1)
        out[j] = sfft.fftshift((np.abs(far) ** 2).mean(axis=0))
    if photons is not None:
        rng = rng or np.random.default_rng()
        counts = rng.poisson(out).astype(np.uint32)
        if mask is not None:
            counts[:, mask] = 0
        return counts
    if mask is not None:
        out[:, mask] = 0
    return out.astype(np.float32)


@dataclass(frozen=True)
class CXISeries:
    """What :func:`simulate_cxi_series` wrote.

    Attributes
    ----------
    files : list of pathlib.Path
    energies : ndarray of shape (E,)
    angles : ndarray of shape (A,) or None
    pixel_size : ndarray of shape (E,)
        Object pixel of each energy, m.
    positions : ndarray of shape (P, 2)
        True scan positions (row, col) of the first file, m.
    dose : float
        Photons per exposure.
    probe : ndarray of complex64
        Probe of the first energy (unit power).
    shifts_px : ndarray
        Applied image shifts (zeros: the scan itself sets the registration).
    """

    files: list[Path]
    energies: NDArray[np.float64]
    angles: NDArray[np.float64] | None
    pixel_size: NDArray[np.float64]
    positions: NDArray[np.float64]
    dose: float
    probe: NDArray[np.complex64]
    shifts_px: NDArray[np.float64]


def place_object(t: NDArray[np.complexfloating], shape: tuple[int, int]) -> NDArray[np.complex64]:
    """Centre the transmission ``t`` in a vacuum (T = 1) field of ``shape``.

    Examples
    --------
    >>> place_object(np.zeros((2, 2), complex), (4, 4))[1:3, 1:3].sum()
    np.complex64(0j)
    """
    out = np.ones(shape, dtype=np.complex64)
    r0 = (shape[0] - t.shape[0]) // 2
    c0 = (shape[1] - t.shape[1]) // 2
    sr = slice(max(r0, 0), max(r0, 0) + min(t.shape[0], shape[0]))
    sc = slice(max(c0, 0), max(c0, 0) + min(t.shape[1], shape[1]))
    tr = slice(max(-r0, 0), max(-r0, 0) + (sr.stop - sr.start))
    tc = slice(max(-c0, 0), max(-c0, 0) + (sc.stop - sc.start))
    out[sr, sc] = t[tr, tc]
    return out


def scan_for_object(
    obj_shape_m: tuple[float, float], geometry: PtychoGeometry, rng: np.random.Generator
) -> NDArray[np.float64]:
    """True scan positions (row, col), m, covering a field of ``obj_shape_m`` plus the margin."""
    extent = (obj_shape_m[0] + 2 * geometry.margin, obj_shape_m[1] + 2 * geometry.margin)
    extent = (max(extent[0] - geometry.spot, 0.0), max(extent[1] - geometry.spot, 0.0))
    return scan_positions(
        extent, geometry.step, jitter=geometry.jitter, rng=rng, snake=geometry.fly
    )


def scan_frame(
    t: NDArray[np.complexfloating], positions_px: NDArray[np.floating], window: int
) -> tuple[NDArray[np.complex64], NDArray[np.float64]]:
    """Object array of a scan and the probe-window corners in it.

    Parameters
    ----------
    t : ndarray of complex, shape (M, N)
        Transmission; its centre is the scan origin.
    positions_px : ndarray of shape (P, 2)
        Whole-pixel positions (row, col) relative to the centre.
    window : int
        Probe window, px.

    Returns
    -------
    obj : ndarray of complex64
        ``t`` centred in vacuum, large enough for every window.
    corners : ndarray of shape (P, 2)
        Top-left corners of the windows, px.

    Examples
    --------
    >>> o, c = scan_frame(np.ones((4, 4)), np.zeros((1, 2)), 8)
    >>> o.shape, c.tolist()
    ((16, 16), [[4.0, 4.0]])
    """
    px = np.asarray(positions_px, dtype=np.float64)
    n = int(window)
    big = (2 * int(np.abs(px[:, 0]).max()) + n + 8, 2 * int(np.abs(px[:, 1]).max()) + n + 8)
    big = (max(big[0], t.shape[0] + 8), max(big[1], t.shape[1] + 8))
    obj = place_object(np.asarray(t), big)
    centre = np.array([big[0] // 2, big[1] // 2])
    return obj, px + centre - n // 2


def simulate_scan(
    t: NDArray[np.complexfloating],
    energy: float,
    pixel: float,
    positions_m: NDArray[np.floating],
    geometry: PtychoGeometry,
    *,
    rng: np.random.Generator,
    mask: NDArray[np.bool_] | None = None,
    photons: float | None = -1.0,
) -> tuple[NDArray[Any], NDArray[np.float64], NDArray[np.complex64]]:
    """Diffraction data of one energy from a complex transmission image.

    Parameters
    ----------
    t : ndarray of complex, shape (M, N)
        Transmission at pixel ``pixel`` (its centre is the scan centre).
    energy : float
        eV.
    pixel : float
        Object pixel, m (``lambda z / (N p)``).
    positions_m : ndarray of shape (P, 2)
        Scan positions (row, col) relative to the image centre, m.
    geometry : PtychoGeometry
    rng : numpy.random.Generator
    mask : ndarray of bool, optional
    photons : float or None, optional
        Dose; -1 uses ``geometry.photons``; None: noise-free.

    Returns
    -------
    data : ndarray of shape (P, N, N)
    positions : ndarray of shape (P, 2)
        Recorded positions, m (quantised to the object pixel).
    probe : ndarray of complex64
    """
    n = geometry.window
    probe = fzp_probe(energy, n, pixel, spot=geometry.spot)
    px = np.rint(positions_m / pixel)
    obj, corners = scan_frame(t, px, n)
    fly_px = geometry.step[1] / pixel if geometry.fly else 0.0
    dose = geometry.photons if photons == -1.0 else photons
    data = simulate_diffraction(
        obj,
        probe,
        corners,
        photons=dose,
        fly_step_px=fly_px,
        fly_subpositions=geometry.fly_subpositions,
        mask=mask,
        rng=rng,
    )
    return data, px * pixel, probe


def simulate_cxi_series(
    sample: Any,
    energies: Sequence[float] | NDArray[np.floating],
    outdir: str | Path,
    *,
    size: str = "tiny",
    angles: Sequence[float] | NDArray[np.floating] | None = None,
    rng: np.random.Generator | None = None,
    control: Control | None = None,
    geometry: PtychoGeometry | None = None,
    overwrite: bool = True,
) -> Generator[Progress, None, CXISeries]:
    """Write one CXI scan per energy (and per angle in 3D) of a twin sample.

    Parameters
    ----------
    sample : ptyxanes.simulate.sample.Sample
    energies : sequence of float
        eV.
    outdir : path-like
        Folder for ``scan_<E>eV[_<angle>deg].cxi``.
    size : {"tiny", "demo", "paper"}, optional
        Selects :data:`GEOMETRIES` (window, steps, spot, dose).
    angles : sequence of float, optional
        Rotation angles, deg (3D).
    rng : numpy.random.Generator, optional
    control : Control, optional
    geometry : PtychoGeometry, optional
        Overrides the size's geometry.
    overwrite : bool, optional

    Returns
    -------
    series : CXISeries
        Files and truth (positions, dose, probe, pixel sizes).

    Raises
    ------
    ValueError
        For an unknown size.
    """
    from ptyxanes.io.cxi import write_cxi
    from ptyxanes.provenance import provenance
    from ptyxanes.simulate import imaging

    if geometry is None:
        if size not in GEOMETRIES:
            raise ValueError(f"size must be one of {sorted(GEOMETRIES)}; got {size!r}")
        geometry = GEOMETRIES[size]
    control = control or Control()
    rng = rng or np.random.default_rng(0)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    e = np.asarray(energies, dtype=np.float64)
    a = None if angles is None else np.asarray(angles, dtype=np.float64)
    n = geometry.window
    pixels = np.array(
        [
            object_pixel(x, n, distance=geometry.distance, detector_pixel=geometry.detector_pixel)
            for x in e
        ]
    )
    fov = (sample.valence.shape[1] * sample.voxel_size, sample.valence.shape[2] * sample.voxel_size)
    mask = bad_pixel_mask((n, n), geometry.bad_pixels, rng)
    jobs = (
        [(i, None) for i in range(e.size)]
        if a is None
        else [(i, k) for k in range(a.size) for i in range(e.size)]
    )
    files: list[Path] = []
    first_pos: NDArray[np.float64] | None = None
    first_probe: NDArray[np.complex64] | None = None
    params = {
        "size": size,
        "window": n,
        "step": list(geometry.step),
        "spot": geometry.spot,
        "photons": geometry.photons,
        "fly": geometry.fly,
        "jitter": geometry.jitter,
    }
    for j, (i, k) in enumerate(jobs):
        control.check()
        energy = float(e[i])
        angle = None if k is None or a is None else float(a[k])
        if angle is None:
            t = imaging.transmission_2d(sample, energy, pixels[i])
        else:
            t = imaging.transmission_projection(sample, energy, angle, pixels[i])
        positions = scan_for_object(fov, geometry, rng)
        data, rec, probe = simulate_scan(
            t, energy, float(pixels[i]), positions, geometry, rng=rng, mask=mask
        )
        if first_pos is None:
            first_pos, first_probe = rec, probe
        name = f"scan_{energy:09.3f}eV" + ("" if angle is None else f"_{angle:07.2f}deg") + ".cxi"
        files.append(
            write_cxi(
                out / name,
                data,
                rec,
                energy,
                geometry.distance,
                geometry.detector_pixel,
                mask=mask,
                angle=angle,
                overwrite=overwrite,
                provenance=provenance("simulate_ptycho", params),
            )
        )
        yield Progress(j + 1, len(jobs), f"{name}: {len(rec)} patterns", "simulate")
    assert first_pos is not None and first_probe is not None
    return CXISeries(
        files, e, a, pixels, first_pos, geometry.photons, first_probe, np.zeros((len(jobs), 2))
    )


def with_geometry(size: str, **changes: Any) -> PtychoGeometry:
    """A size's :class:`PtychoGeometry` with some fields changed.

    Examples
    --------
    >>> with_geometry("tiny", fly=True).fly
    True
    """
    return replace(GEOMETRIES[size], **changes)


__all__ = [
    "GEOMETRIES",
    "PtychoGeometry",
    "CXISeries",
    "fzp_probe",
    "object_pixel",
    "defocus_for_spot",
    "scan_positions",
    "bad_pixel_mask",
    "simulate_diffraction",
    "simulate_scan",
    "simulate_cxi_series",
    "place_object",
    "with_geometry",
]
