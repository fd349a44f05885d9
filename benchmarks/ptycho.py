"""Benchmark: seconds per ePIE iteration vs the FFT floor, on twin-like data.

Data: the tiny twin sample (200 cycles) at 8350 eV on the demo geometry
(128 x 128 patterns, 77 nm pixels, 2 µm zone-plate spot, fly scan) over a
field of >= 1000 positions. The floor is the time of the same number of
forward + inverse 2D FFT pairs (complex64, 128 x 128, scipy.fft, same
workers, in batches of 32) -- what any ePIE must at least do per iteration.

Also measures the iterations saved by a warm start (probe of a neighbouring
energy) against a cold start (zone-plate probe) to reach the same Fourier
error.

Run: ``.venv/bin/python benchmarks/ptycho.py [--iterations 5] [--positions 1000]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
from scipy import fft as sfft

from ptyxanes.progress import run_sync
from ptyxanes.ptycho import PtychoParams, reconstruct
from ptyxanes.ptycho.series import rescale_probe
from ptyxanes.simulate import imaging
from ptyxanes.simulate import ptycho as sp
from ptyxanes.simulate.sample import make_sample

logger = logging.getLogger(__name__)


def make_data(energy: float, n_pos: int, seed: int = 0, window: int = 128):
    geo = sp.with_geometry("demo", window=window)
    px = sp.object_pixel(energy, window)
    n_col = int(np.ceil(np.sqrt(n_pos * geo.step[0] / geo.step[1])))
    n_row = int(np.ceil(n_pos / n_col))
    extent = ((n_row - 1) * geo.step[0], (n_col - 1) * geo.step[1])
    rng = np.random.default_rng(seed)
    pos = sp.scan_positions(extent, geo.step, jitter=geo.jitter, rng=rng, snake=True)
    t = imaging.transmission_2d(make_sample("tiny", 200), energy, px)
    data, rec, probe = sp.simulate_scan(t, energy, px, pos, geo, rng=rng)
    truth, corners = sp.scan_frame(t, np.rint(rec / px), window)
    return data, corners, probe, truth.shape, px


def fft_floor(n_pairs: int, shape: tuple[int, int], workers: int, batch: int = 32) -> float:
    a = (
        np.random.default_rng(0).normal(size=(batch, *shape))
        + 1j * np.random.default_rng(1).normal(size=(batch, *shape))
    ).astype(np.complex64)
    sfft.ifft2(sfft.fft2(a, workers=workers), workers=workers)  # plan/warm-up
    t0 = time.perf_counter()
    done = 0
    while done < n_pairs:
        b = min(batch, n_pairs - done)
        x = sfft.fft2(a[:b], norm="ortho", workers=workers)
        sfft.ifft2(x, norm="ortho", workers=workers, overwrite_x=True)
        done += b
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--positions", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--warm", action="store_true", help="also measure the warm-start saving")
    args = ap.parse_args(argv)
    out = sys.stdout.write
    t0 = time.perf_counter()
    data, corners, probe, shape, px = make_data(8350.0, args.positions)
    out(
        f"data: {data.shape[0]} patterns {data.shape[1]}x{data.shape[2]}, pixel {px * 1e9:.1f} nm,"
        f" object {shape}, simulated in {time.perf_counter() - t0:.1f} s\n"
    )
    params = PtychoParams(iterations=args.iterations, workers=args.workers, preview_every=0)
    run_sync(
        reconstruct(
            data[:50],
            corners[:50],
            probe,
            obj_shape=shape,  # compile the kernels
            params=PtychoParams(iterations=1, modes=2),
        )
    )
    res = run_sync(reconstruct(data, corners, probe, obj_shape=shape, params=params))
    per_it = float(np.median(res.info["iteration_seconds"]))
    floor = (
        fft_floor(len(corners) * args.iterations, data.shape[1:], args.workers) / args.iterations
    )
    out(
        f"ePIE (1 mode): {per_it:.3f} s/iteration, {len(corners) / per_it:.0f} positions/s "
        f"({res.info['groups']} groups, support {res.info['support']} px)\n"
    )
    out(f"FFT floor ({len(corners)} fft2+ifft2 pairs): {floor:.3f} s/iteration\n")
    out(f"ratio ePIE / floor = {per_it / floor:.2f}  (required <= 2)\n")
    res3 = run_sync(
        reconstruct(
            data,
            corners,
            probe,
            obj_shape=shape,
            params=PtychoParams(iterations=2, modes=3, workers=args.workers, preview_every=0),
        )
    )
    floor3 = fft_floor(3 * len(corners) * 2, data.shape[1:], args.workers) / 2
    it3 = float(np.median(res3.info["iteration_seconds"]))
    out(f"ePIE (3 modes): {it3:.3f} s/iteration, ratio to its floor {it3 / floor3:.2f}\n")
    if args.warm:
        _warm(out, args)
    return 0


def _warm(out, args) -> None:
    """Iterations to reach a common error: cold (zone-plate model) vs warm (neighbour's probe).

    The cold start uses the zone-plate probe with a 20 % error in the spot size
    (defocus), as the optics are never known exactly; the neighbour (1 eV
    lower) was reconstructed from the same guess with 100 iterations.
    """
    n = 600
    d1, c1, _, s1, px1 = make_data(8349.0, n, seed=1)
    d2, c2, _, s2, px2 = make_data(8350.0, n, seed=2)
    guess1 = sp.fzp_probe(8349.0, 128, px1, spot=1.6e-6)
    guess2 = sp.fzp_probe(8350.0, 128, px2, spot=1.6e-6)
    its = 80
    base = run_sync(reconstruct(d1, c1, guess1, obj_shape=s1, params=PtychoParams(iterations=100)))
    cold = run_sync(reconstruct(d2, c2, guess2, obj_shape=s2, params=PtychoParams(iterations=its)))
    warm_probe = rescale_probe(base.probe, px1, px2, guess2.shape)
    warm = run_sync(
        reconstruct(
            d2, c2, warm_probe, obj_shape=s2, params=PtychoParams(iterations=its, probe_start=0)
        )
    )
    target = 1.1 * min(cold.errors[-1], warm.errors[-1])
    n_cold = int(np.argmax(cold.errors <= target)) + 1 if (cold.errors <= target).any() else its
    n_warm = int(np.argmax(warm.errors <= target)) + 1 if (warm.errors <= target).any() else its
    out(
        f"warm start: {n_warm} iterations vs cold {n_cold} to reach Fourier error {target:.3g} "
        f"(1.1 x the better of the two {its}-iteration runs); saves {n_cold - n_warm}\n"
    )
    out(f"  final errors after {its}: cold {cold.errors[-1]:.3g}, warm {warm.errors[-1]:.3g}\n")


if __name__ == "__main__":
    raise SystemExit(main())
