"""The fused CPU kernels and the threaded group update against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, _kernels, group_positions, reconstruct
from ptyxanes.simulate import ptycho as sp

from .test_engine import _scan


def _cplx(rng, *shape):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)


@pytest.mark.parametrize(
    ("modes", "per_position", "rpie"), [(1, False, False), (2, False, True), (1, True, True)]
)
def test_chunk_step_matches_numpy(modes, per_position, rpie):
    """Exit waves, FFT, modulus constraint, inverse FFT and update equal the numpy formulas."""
    rng = np.random.default_rng(3)
    b, h, w = 3, 16, 12
    ob = _cplx(rng, 40, 40)
    probe = _cplx(rng, b if per_position else 1, modes, h, w)
    rows = np.array([0, 5, 20], np.int64)
    cols = np.array([3, 17, 9], np.int64)
    meas = (rng.random((6, h, w)) * 5).astype(np.float32)
    good = np.ones((h, w), np.float32)
    good[2, 3] = good[7, 1] = 0.0  # masked pixels keep the estimated amplitude
    idx = np.array([4, 0, 2], np.int64)
    coef = rng.random((b if per_position else 1, h, w)).astype(np.float32)
    num_p = np.zeros((b if per_position else 1, modes, h, w), np.complex64)
    o2sum = np.zeros((h if rpie else 0, w), np.float32)
    omax = np.zeros(b, np.float32)
    psi = np.empty((b, modes, h, w), np.complex64)
    err = _kernels.chunk_step(
        ob, probe, rows, cols, psi, meas, good, idx, coef, num_p, True, o2sum, omax
    )
    inc = psi[:, 0]  # the increments replace mode 0 of the exit waves

    patches = np.stack([ob[r : r + h, c : c + w] for r, c in zip(rows, cols, strict=True)])
    ex = probe * patches[:, None]  # (B, K, H, W)
    far = np.fft.fft2(ex.astype(np.complex128), norm="ortho")
    amp = np.sqrt((np.abs(far) ** 2).sum(axis=1))
    m = meas[idx]
    want_err = float((good * (amp - m) ** 2).sum())
    factor = good * m / (amp + 1e-6) + (1 - good)
    dpsi = np.fft.ifft2(far * factor[:, None], norm="ortho") - ex
    want_inc = coef * (np.conj(probe) * dpsi).sum(axis=1)
    want_nump = np.conj(patches)[:, None] * dpsi
    if not per_position:
        want_nump = want_nump.sum(axis=0, keepdims=True)
    o2 = np.abs(patches) ** 2
    assert err == pytest.approx(want_err, rel=1e-4)
    scale = np.abs(want_inc).max()
    assert_allclose(inc, want_inc, atol=2e-5 * scale)
    assert_allclose(num_p, want_nump, atol=2e-5 * np.abs(want_nump).max())
    assert_allclose(omax, o2.reshape(b, -1).max(axis=1), rtol=1e-6)
    if rpie:
        assert_allclose(o2sum, o2.sum(axis=0), rtol=1e-5)
    # ob is only read
    assert np.array_equal(patches[0], ob[0:h, 3 : 3 + w])


def test_add_patches_in_bands_equals_whole():
    """Row bands added separately give bit for bit the result of one addition."""
    rng = np.random.default_rng(0)
    ob = _cplx(rng, 50, 50)
    inc = _cplx(rng, 4, 16, 16)
    rows = np.array([0, 8, 30, 12], np.int64)
    cols = np.array([0, 4, 20, 30], np.int64)
    whole = ob.copy()
    _kernels.add_patches(whole, inc[:, None], rows, cols, 0, 50)
    banded = ob.copy()
    for lo, hi in ((0, 13), (13, 29), (29, 50)):
        _kernels.add_patches(banded, inc[:, None], rows, cols, lo, hi)
    assert np.array_equal(whole, banded)
    want = ob.astype(np.complex128)
    for k in range(4):
        want[rows[k] : rows[k] + 16, cols[k] : cols[k] + 16] += inc[k]
    assert_allclose(whole, want, atol=1e-5)


@pytest.mark.parametrize("rpie", [False, True])
def test_probe_step_matches_formula(rpie):
    rng = np.random.default_rng(1)
    p = _cplx(rng, 2, 8, 8)
    num_p = _cplx(rng, 3, 2, 8, 8)
    o2sum = rng.random((3, 8, 8)).astype(np.float32) if rpie else np.zeros((3, 0, 8), np.float32)
    scale, weight, offset = (0.7, 0.4, 2.5) if rpie else (0.3, 0.0, 1.0)
    want = p + scale * num_p.sum(axis=0) / (weight * o2sum.sum(axis=0) + offset if rpie else 1)
    got = p.copy()
    _kernels.probe_step(got, num_p, o2sum, scale, weight, offset, 0, 5)
    _kernels.probe_step(got, num_p, o2sum, scale, weight, offset, 5, 8)
    assert_allclose(got, want, atol=1e-5)


def test_shift_probes_is_a_fourier_shift():
    """Whole-pixel shifts move the probe by np.roll; any shift is the numpy Fourier shift;
    unshift_sum sums the numerators shifted back."""
    rng = np.random.default_rng(5)
    p = _cplx(rng, 2, 16, 12)
    frac = np.array([[1.0, -2.0], [0.3, -0.45], [-0.2, 0.1]])
    out = np.empty((3, 2, 16, 12), np.complex64)
    _kernels.shift_probes(p, frac, np.empty_like(p), out)
    assert_allclose(out[0], np.roll(p, (1, -2), axis=(1, 2)), atol=1e-5)
    ky = np.fft.fftfreq(16)[:, None]
    kx = np.fft.fftfreq(12)[None, :]
    ramps = np.exp(-2j * np.pi * (ky * frac[:, 0, None, None] + kx * frac[:, 1, None, None]))
    want = np.fft.ifft2(np.fft.fft2(p)[None] * ramps[:, None])
    assert_allclose(out, want, atol=1e-5)
    nump = _cplx(rng, 3, 2, 16, 12)
    back = np.fft.ifft2((np.fft.fft2(nump) * np.conj(ramps)[:, None]).sum(axis=0))
    got = np.empty((2, 16, 12), np.complex64)
    _kernels.unshift_sum(nump.copy(), frac, got)
    assert_allclose(got, back, atol=1e-4)


def _first_fit(corners, sep, order):
    groups: list[list[int]] = []
    for j in order:
        for g in groups:
            if all(
                abs(corners[m, 0] - corners[j, 0]) >= sep
                or abs(corners[m, 1] - corners[j, 1]) >= sep
                for m in g
            ):
                g.append(int(j))
                break
        else:
            groups.append([int(j)])
    return groups


@pytest.mark.parametrize("random_order", [False, True])
def test_group_positions_is_first_fit(random_order):
    c = np.random.default_rng(2).integers(0, 120, (300, 2))
    order = np.random.default_rng(9).permutation(300) if random_order else np.arange(300)
    got = group_positions(c, 17, np.random.default_rng(9) if random_order else None)
    assert [g.tolist() for g in got] == _first_fit(c, 17, order)
    assert group_positions(np.zeros((0, 2), int), 5) == []


@pytest.mark.parametrize(
    ("algorithm", "subpixel", "threads"),
    [
        ("epie", False, 2),
        ("rpie", False, 2),
        ("epie", True, 2),
        ("rpie", True, 2),
        ("epie", False, 3),  # groups of 2 leave a chunk empty
        ("rpie", True, 3),
    ],
)
def test_threads_deterministic_and_equal_to_one(algorithm, subpixel, threads):
    """Groups split over threads (``parallel_groups``): the same result every run, and the
    result of one thread (``serial_groups``), with whole-pixel positions and with probes
    shifted by sub-pixel positions."""
    g = sp.with_geometry("tiny", fly=False, step=(0.4e-6, 0.4e-6))
    data, corners, probe, truth, mask = _scan(g)
    if subpixel:  # positions off whole pixels by up to 0.4 px
        corners = corners + np.random.default_rng(4).uniform(-0.4, 0.4, corners.shape)
        corners -= np.minimum(corners.min(axis=0), 0)

    def run(workers):
        p = PtychoParams(algorithm=algorithm, iterations=4, workers=workers, preview_every=0)
        return run_sync(
            reconstruct(
                data, corners, probe, obj_shape=(truth.shape[0] + 1, truth.shape[1] + 1), params=p
            )
        )

    one, two, again = run(1), run(threads), run(threads)
    sizes = [len(x) for x in group_positions(np.rint(corners), one.info["support"])]
    assert max(sizes) >= 2 and min(sizes) < threads
    assert np.array_equal(two.object, again.object) and np.array_equal(two.probe, again.probe)
    lit = one.illumination > 0.1 * one.illumination.max()
    scale = np.abs(one.object[lit]).max()
    assert np.abs(two.object - one.object)[lit].max() < 1e-5 * scale
    assert_allclose(two.errors, one.errors, rtol=1e-5)


def test_fortran_ordered_inputs_run_the_c_ordered_kernels():
    """A probe, object and patterns in Fortran order (a transposed file) give the result of
    C-ordered ones, through the kernels compiled for C order (a strided variant would cost
    a compilation and run slower)."""
    g = sp.with_geometry("tiny", fly=False, step=(0.4e-6, 0.4e-6))
    data, corners, probe, truth, mask = _scan(g)
    shape = (truth.shape[0] + 1, truth.shape[1] + 1)
    obj = np.ones(shape, np.complex64)
    p = PtychoParams(iterations=2, preview_every=0)

    def run(order):
        return run_sync(
            reconstruct(
                np.asarray(data, order=order),
                corners,
                np.asarray(probe, order=order),
                obj=np.asarray(obj, order=order),
                obj_shape=shape,
                params=p,
            )
        )

    c, f = run("C"), run("F")
    assert np.array_equal(c.object, f.object) and np.array_equal(c.probe, f.probe)
    layouts = {t.layout for sig in _kernels.serial_groups.signatures for t in sig if hasattr(t, "layout")}
    assert layouts == {"C"}, layouts


_CONCURRENT = r"""
import concurrent.futures as cf
import json
import numpy as np
from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, reconstruct
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample
from ptyxanes.simulate import imaging

g = sp.with_geometry("tiny", fly=False, step=(0.4e-6, 0.4e-6))
e = 8350.0
px = sp.object_pixel(e, g.window)
rng = np.random.default_rng(0)
pos = sp.scan_positions((4e-6, 4e-6), g.step, jitter=g.jitter, rng=rng)
t = imaging.transmission_2d(make_sample("tiny", 200), e, px)
data, rec, probe = sp.simulate_scan(t, e, px, pos, g, rng=rng)
corners = rec / px
corners -= corners.min(axis=0)

def run(_):
    p = PtychoParams(iterations=3, workers=2, preview_every=0)
    return float(run_sync(reconstruct(data, corners, probe, params=p)).errors[-1])

with cf.ThreadPoolExecutor(2) as ex:
    print(json.dumps(list(ex.map(run, range(2)))))
"""


@pytest.mark.slow
def test_concurrent_threaded_reconstructions_on_the_workqueue_layer():
    """Two reconstructions with two threads each, at once, under numba's workqueue
    threading layer (what numba uses without OpenMP or TBB), which terminates the
    process on concurrent parallel launches: both finish, with equal results."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    r = subprocess.run([sys.executable, "-c", _CONCURRENT], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = json.loads(r.stdout.strip().splitlines()[-1])
    assert a == b and np.isfinite(a)
