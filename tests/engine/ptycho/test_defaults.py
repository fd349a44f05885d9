"""Default settings on an independently simulated energy series (no probe, no optics given).

The series (``independent.py``, written without the project's twin code): 64 x 64
patterns, 40 nm pixels at 8270 eV (``lambda z / (N p)`` at every energy), a
0.6 µm defocused probe with side lobes, a 6 x 6 raster with 40 nm RMS jitter,
1e6 incident photons per pattern, Poisson counts; energies 8270 (pre-edge),
8330 (pre-edge), 8350 (edge) and 8420 eV (post-edge) -- both ends of the range
and the edge, so the warm-started energies lie far from the reference.

Targets at every energy: -ln|T| correlation >= 0.95 and RMS error <= 10 % of the
contrast where the contrast exceeds 0.2, else >= 0.8 / <= 30 %; phase
correlation >= 0.995 (offset and ramp removed; the issue asks 0.99). Measured with
the defaults: -ln|T| 0.950/9.7 %, 0.963/8.1 % (pre-edge, contrast 0.08),
0.997/1.8 %, 0.997/2.4 %; phase 0.9986, 0.9986, 0.9986, 0.9984.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ptyxanes.io.cxi import read_scan_series, write_cxi
from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, check_patterns, reconstruct
from ptyxanes.ptycho.series import normalize_background, reconstruct_series

from . import independent as ind

ENERGIES = (8270.0, 8330.0, 8350.0, 8420.0)


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("independent")
    rng = np.random.default_rng(0)
    pos = ind.scan(rng)
    for e in ENERGIES:
        data, _, _ = ind.patterns(e, pos, rng, photons=1e6)
        write_cxi(d / f"scan_{e:.0f}.cxi", data, pos, e, ind.DISTANCE, ind.DET_PIXEL)
    return d, pos


@pytest.mark.slow
def test_defaults_every_energy(series_dir):
    d, pos = series_dir
    res = run_sync(reconstruct_series(read_scan_series(d)))
    centre = (pos.min(axis=0) + pos.max(axis=0)) / 2
    failures = []
    offsets = []
    for job, e, px in zip(res.results, res.energy, res.native_pixel_size, strict=True):
        # the series centres the scan on the object array with the beam axis at
        # the recorded position; in the simulation the beam axis lies N // 2
        # native pixels from the recorded window corner, whatever window ``n``
        # the reconstruction uses (odd windows: half a pixel from n // 2 * px)
        shape = job.object.shape
        axis = ind.N // 2 * ind.pixel(e)
        rows = (np.arange(shape[0]) - shape[0] // 2) * px + centre[0] + axis
        cols = (np.arange(shape[1]) - shape[1] // 2) * px + centre[1] + axis
        truth = ind.transmission(e, rows[:, None], cols[None, :])
        well = job.illumination > 0.3 * job.illumination.max()
        corr, err, contrast, phase = ind.absorption_metrics(job.object, truth, well)
        need = (0.95, 0.10) if contrast > 0.2 else (0.8, 0.30)
        if corr < need[0] or err > need[1] or phase < 0.995:
            failures.append((e, round(corr, 3), round(err, 3), round(contrast, 3), round(phase, 4)))
        # the stored level: -ln|T| of the normalised image minus the truth, on the
        # least absorbing tenth of the lit field (support only), is the same at every energy
        norm = normalize_background(job.object, job.illumination)
        lt = -np.log(np.abs(truth[well]))
        low = lt <= np.quantile(lt, 0.1)
        offsets.append(float(np.median(-np.log(np.abs(norm[well][low])) - lt[low])))
    assert not failures, failures
    assert np.ptp(offsets) < 0.01, offsets


@pytest.fixture(scope="module")
def one_energy():
    rng = np.random.default_rng(1)
    pos = ind.scan(rng)
    data, probe, px = ind.patterns(8420.0, pos, rng, photons=1e6)
    return data.astype(np.float32), pos / px, px


@pytest.mark.slow
def test_swapped_positions_found(one_energy, caplog):
    """Positions written with rows and columns swapped: the trial runs find it and warn."""
    data, corners, _ = one_energy
    swapped = corners[:, ::-1] + 2
    p = PtychoParams(iterations=1, preview_every=0)
    with caplog.at_level(logging.WARNING, logger="ptyxanes.ptycho"):
        res = run_sync(reconstruct(data, swapped, params=p))
    assert tuple(res.info["position_convention"]) == (1, 0, 0)
    assert any("rows/cols swapped" in r.getMessage() for r in caplog.records)
    # the positions used are the original ones (up to the common offset)
    d = res.positions - corners
    assert np.allclose(d, d[0], atol=1e-9)


def test_fft_shifted_patterns_fixed(one_energy, caplog):
    data, _, _ = one_energy
    shifted = np.fft.ifftshift(data, axes=(-2, -1))
    with caplog.at_level(logging.WARNING, logger="ptyxanes.ptycho"):
        fixed, _ = check_patterns(shifted)
    np.testing.assert_array_equal(fixed, data)
    assert any("FFT-shifted" in r.getMessage() for r in caplog.records)
    caplog.clear()
    same, _ = check_patterns(data)
    np.testing.assert_array_equal(same, data)
    assert not caplog.records
    bad = data.copy()
    bad[3] = 0
    with pytest.raises(ValueError, match="empty pattern"):
        check_patterns(bad)
