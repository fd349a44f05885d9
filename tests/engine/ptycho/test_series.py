"""Energy series from the digital twin: accuracy vs truth, pixel sizes, warm start, bad scans."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ptyxanes.io.cxi import read_cxi, read_scan_series, write_cxi
from ptyxanes.io.errors import FormatError
from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams
from ptyxanes.ptycho.series import SeriesParams, reconstruct_series, validate_scan, write_series
from ptyxanes.simulate import imaging
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample

from .conftest import compare_to_truth

ENERGIES = [8330.0, 8348.0, 8400.0]


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    d = tmp_path_factory.mktemp("cxi")
    sample = make_sample("tiny", 200)
    series = run_sync(
        sp.simulate_cxi_series(sample, ENERGIES, d, size="tiny", rng=np.random.default_rng(0))
    )
    return d, sample, series


@pytest.mark.slow
def test_series_matches_truth(twin, tmp_path):
    d, sample, series = twin
    scans = read_scan_series(d)
    res = run_sync(
        reconstruct_series(
            scans, PtychoParams(algorithm="rpie", iterations=80), SeriesParams(jobs=2)
        )
    )
    assert res.objects.shape[0] == 3
    # crop mode keeps the pixel within half a window pixel of the target (lowest energy)
    target = series.pixel_size[0]
    assert np.all(np.abs(res.pixel_size / target - 1) <= 0.5 / res.windows.min() + 1e-9)
    assert list(res.windows) == [64, 64, 63]
    for job, e, px in zip(res.results, res.energy, res.native_pixel_size, strict=True):
        truth = imaging.transmission_2d(sample, e, px)
        big = sp.place_object(truth, job.object.shape)
        absorption, phase, n = compare_to_truth(job.object, big, job.illumination)
        assert n > 500
        assert absorption < 0.03, (e, absorption)
        assert phase < 0.05, (e, phase)
    out = write_series(tmp_path / "stack.h5", res)
    with h5py.File(out) as f:
        assert f["entry/data/data"].shape == res.objects.shape
        assert f["entry/data/data"].dtype == np.complex64
        assert f["entry/ptycho/scan_0000/probe"].ndim == 3
        assert f["entry/ptycho/scan_0001/errors"].shape == (80,)
        np.testing.assert_allclose(f["entry/data/pixel_size"][()], res.pixel_size)


def _rewrite(src, dst, **changes):
    s = read_cxi(src, lazy=False)
    kw = dict(
        data=s.data,
        positions=s.positions,
        energy=s.energy,
        distance=s.distance,
        detector_pixel_size=s.detector_pixel_size,
        mask=s.mask,
    )
    kw.update(changes)
    return write_cxi(
        dst,
        kw.pop("data"),
        kw.pop("positions"),
        kw.pop("energy"),
        kw.pop("distance"),
        kw.pop("detector_pixel_size"),
        mask=kw.pop("mask"),
    )


@pytest.mark.parametrize("problem", ["empty", "saturated", "outside", "positions"])
def test_bad_scan_named(twin, tmp_path, problem):
    d, _, series = twin
    src = series.files[1]
    s = read_cxi(src, lazy=False)
    data = np.array(s.data)
    pos = np.array(s.positions)
    if problem == "empty":
        data[5] = 0
    elif problem == "saturated":
        data[7, 10, 10] = np.iinfo(data.dtype).max
    elif problem == "outside":
        pos[3] = [1e-3, 0.0]
    else:
        pos = pos[:-2]
    bad = tmp_path / "bad_scan.cxi"
    if problem == "positions":
        with pytest.raises((FormatError, ValueError)):
            _rewrite(src, bad, data=data, positions=pos)
        return
    _rewrite(src, bad, data=data, positions=pos)
    with pytest.raises(FormatError, match="bad_scan.cxi") as err:
        validate_scan(read_cxi(bad))
    assert {"empty": "empty", "saturated": "saturated", "outside": "outside"}[problem] in str(
        err.value
    )
    # in a series, the bad file stops everything before any work, naming the file
    good = [read_cxi(series.files[0]), read_cxi(bad)]
    with pytest.raises(FormatError, match="bad_scan.cxi"):
        run_sync(reconstruct_series(good, PtychoParams(iterations=2)))


def test_missing_energy_in_3d(tmp_path):
    from ptyxanes.ptycho.series import check_series

    rng = np.random.default_rng(0)
    data = rng.poisson(5.0, (4, 16, 16)).astype(np.uint32) + 1
    pos = np.array([[0, 0], [0, 1e-7], [1e-7, 0], [1e-7, 1e-7]])
    files = []
    for a in (0.0, 10.0):
        for e in (8330.0, 8340.0):
            if a == 10.0 and e == 8340.0:
                continue
            files.append(write_cxi(tmp_path / f"s_{e}_{a}.cxi", data, pos, e, 5.0, 75e-6, angle=a))
    with pytest.raises(FormatError, match="missing energy"):
        check_series(read_scan_series(tmp_path))


def test_native_pixel_mode(twin):
    d, _, series = twin
    scans = read_scan_series(d)[:2]
    p = PtychoParams(iterations=3, preview_every=0)
    native = run_sync(
        reconstruct_series(
            scans, p, SeriesParams(pixel_mode="native", spot=1e-6, probe_from_data=False)
        )
    )
    np.testing.assert_allclose(native.pixel_size, series.pixel_size[:2], rtol=1e-9)
    assert list(native.windows) == [64, 64]
    resampled = run_sync(
        reconstruct_series(
            scans,
            p,
            SeriesParams(pixel_mode="native", pixel_size=150e-9, spot=1e-6, probe_from_data=False),
        )
    )
    np.testing.assert_allclose(resampled.pixel_size, [150e-9, 150e-9])
    np.testing.assert_allclose(resampled.native_pixel_size, series.pixel_size[:2], rtol=1e-9)
    # same field of view: the resampled image is larger by the pixel ratio
    assert resampled.objects.shape[-1] > native.objects.shape[-1]
